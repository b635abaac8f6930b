"""Database engines for SQLite (local default) and PostgreSQL, and a UTC timestamp type.

SQLite is set up for several processes sharing one file: WAL, a busy timeout, and every
write transaction opened with BEGIN IMMEDIATE so that a read-modify-write never races
another writer (a deferred transaction would fail with SQLITE_BUSY when it upgrades, or
worse, decide on a stale read). Read-only work uses `Database.reading()` and a plain BEGIN.
"""

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, DateTime, MetaData, Row, Table, event, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.types import TypeDecorator

from shared import sqlite_driver

_READ_ONLY = "readonly"
_SCHEMA_LOCK = 0x5C4E3A  # any constant shared by every instance of every service


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (which stores no zone) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Database:
    def __init__(self, url: str, *, sqlite_synchronous: str = "FULL", echo: bool = False) -> None:
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            if parsed.get_driver_name() == "aiosqlite":
                url = parsed.set(drivername=sqlite_driver.NAME.replace(".", "+")).render_as_string(
                    hide_password=False
                )
            # One writer connection per process: writers queue for it in the event loop
            # and get it the moment it is free, instead of several connections sleeping in
            # SQLite's busy handler (up to 100 ms a time) for the one file lock. Readers
            # have their own connections (WAL lets them read while the writer writes).
            sqlite_args: dict[str, Any] = {"echo": echo, "connect_args": {"timeout": 30}}
            # Every write goes through transaction() (engine.begin()), which always ends
            # in COMMIT or ROLLBACK: no reset needed when the connection is returned.
            self.engine: AsyncEngine = create_async_engine(
                url,
                pool_size=1,
                max_overflow=0,
                pool_timeout=300,
                pool_reset_on_return=None,
                **sqlite_args,
            )
            reader = create_async_engine(url, pool_size=4, max_overflow=4, **sqlite_args)
            for engine in (self.engine, reader):
                _tune_sqlite(engine, sqlite_synchronous)
        else:
            self.engine = create_async_engine(
                url, echo=echo, pool_size=10, max_overflow=10, pool_pre_ping=True
            )
            reader = self.engine
        self._reader_engine = reader
        self._reader = reader.execution_options(**{_READ_ONLY: True})

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction: committed when the block ends, rolled back on error."""
        async with self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        async with self._reader.connect() as conn:
            yield conn

    async def create_all(self, metadata: MetaData) -> None:
        """Create missing tables. Instances starting together on one PostgreSQL database
        take turns (an advisory lock): concurrent CREATE TABLEs would collide."""
        async with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK}
                )
            await conn.run_sync(metadata.create_all)

    async def ping(self) -> None:
        async with self.reading() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._reader_engine is not self.engine:
            await self._reader_engine.dispose()


def _tune_sqlite(engine: AsyncEngine, synchronous: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        read_only = conn.get_execution_options().get(_READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def dialect_insert(conn: AsyncConnection, table: Table) -> Any:
    """The dialect's INSERT construct, which offers ON CONFLICT on both SQLite and PostgreSQL."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignoring_duplicates(conn: AsyncConnection, table: Table) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING for the connection's dialect."""
    return dialect_insert(conn, table).on_conflict_do_nothing()


async def claim_due(
    conn: AsyncConnection,
    table: Table,
    *,
    ready: ColumnElement[bool],
    lease_until: datetime,
    limit: int,
) -> Sequence[Row[Any]]:
    """Lease up to `limit` rows that are `ready` and whose lease (`claimed_until`) has run
    out, oldest first, and return them. Several processes may call this at once: each row
    goes to one of them (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite's writer lock)."""
    now = utcnow()
    due = (
        select(table.c.id)
        .where(ready, table.c.claimed_until <= now)
        .order_by(table.c.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        update(table)
        .where(table.c.id.in_(due.scalar_subquery()), ready, table.c.claimed_until <= now)
        .values(claimed_until=lease_until)
        .returning(*table.c)
    )
    rows = (await conn.execute(stmt)).all()
    return sorted(rows, key=lambda row: row.created_at)
