"""Plain SQL on a transaction's own driver connection, for the hot paths.

A statement through SQLAlchemy costs some 250 us of CPU here (building it, its cache key,
the execution context, the result's set-up); the same through the driver, 20. On the
paths every message takes (inbox, the handlers' effects, the outbox) that difference is
most of what an order costs, so those statements are written once as SQL and run on the
DBAPI connection of the SQLAlchemy transaction they belong to (the same connection and
transaction: what SQLAlchemy-based code does in the unit of work sees them). Tables are
still defined (and created, and migrated) with SQLAlchemy, and reads for the API go
through it.

Values are encoded as SQLAlchemy's column types store them, so either side reads what
the other wrote: on SQLite a UUID is 32 hex digits, a timestamp a naive UTC
`YYYY-MM-DD HH:MM:SS.ffffff`, JSON text; on PostgreSQL the native types.
"""

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

import orjson
from psycopg.types.json import Json
from sqlalchemy import Connection


class PlainSql:
    """SQL written with `?` placeholders, run on the driver connection of `conn`'s
    transaction (sqlite3 or psycopg)."""

    __slots__ = ("_driver", "postgres")

    def __init__(self, conn: Connection) -> None:
        self.postgres = conn.dialect.name == "postgresql"
        self._driver: Any = conn.connection.driver_connection

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self._driver.execute(self._native(sql), params)
        return list(cursor.fetchall()) if cursor.description else []

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; how many rows it changed."""
        return int(self._driver.execute(self._native(sql), params).rowcount)

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        if self.postgres:
            rows = list(params)
            if len(rows) == 1:
                # psycopg's executemany runs in pipeline mode, which for a single row (what
                # a message at an ordinary rate writes) costs more than a plain execute:
                # measured here, 120 us more CPU and 200 us more wall time.
                self._driver.execute(self._native(sql), rows[0])
            elif rows:
                with self._driver.cursor() as cursor:
                    cursor.executemany(self._native(sql), rows)
        else:
            self._driver.executemany(sql, params)

    def _native(self, sql: str) -> str:
        return _percent_style(sql) if self.postgres else sql

    # What the columns of SQLAlchemy's types hold on this dialect.

    def uuid(self, value: uuid.UUID) -> Any:
        return value if self.postgres else value.hex

    def time(self, value: datetime) -> Any:
        if self.postgres:
            return value
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    def json(self, value: Any) -> Any:
        return Json(value) if self.postgres else orjson.dumps(value).decode()

    def in_list(self, count: int) -> str:
        """`(?, ?, ...)` for an IN of `count` values (at least one)."""
        return _marks(max(count, 1))


def read_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(hex=value)


def read_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def read_json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


@cache
def _percent_style(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


@cache
def _marks(count: int) -> str:
    return "(" + ", ".join("?" * count) + ")"
