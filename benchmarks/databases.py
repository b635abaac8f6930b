"""The services' databases in a benchmark run: where they are (each service's SQLite file,
as a user runs it, or a fresh PostgreSQL database of its own, dropped afterwards), and
reading them from the harness (read only) to collect timestamps in bulk.

Timestamps are the services' own: written with `shared.persistence.sql.utcnow()` inside
the transaction that commits them, so they precede their commit by at most that commit.
A reader gives each column as its driver does: on SQLite ids are hex text and timestamps
naive UTC text; on PostgreSQL (asyncpg) ids are `uuid.UUID` and timestamps aware UTC
datetimes (the columns are `timestamptz`). `uuid_key` and `epoch` take either.
"""

import asyncio
import sqlite3
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from shared.persistence.plain_sql import read_time, read_uuid
from tests.support.databases import create_postgres_database, drop_postgres_database

SQLITE, POSTGRESQL = "sqlite", "postgresql"


class Reader(ABC):
    """Read-only queries on one service's database."""

    @abstractmethod
    async def query(self, sql: str) -> list[tuple[Any, ...]]: ...

    async def scalar(self, sql: str) -> int:
        rows = await self.query(sql)
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    @abstractmethod
    async def close(self) -> None:
        """Let go of any connection (a later query opens another)."""


class SqliteReader(Reader):
    """A connection per query (read only): nothing to close."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def close(self) -> None:
        pass

    async def query(self, sql: str) -> list[tuple[Any, ...]]:
        return await asyncio.to_thread(self._query, sql)

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()


class PostgresReader(Reader):
    """One connection, opened at the first query and kept (the harness polls: a connection
    per poll would be a new server process each time), one query at a time."""

    def __init__(self, url: str) -> None:
        self.dsn = url.replace("+psycopg", "")
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()

    async def query(self, sql: str) -> list[tuple[Any, ...]]:
        async with self._lock:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(self.dsn)
            return [tuple(row) for row in await self._conn.fetch(sql)]

    async def close(self) -> None:
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None and not conn.is_closed():
                await conn.close()


def reader(database_url: str) -> Reader:
    if database_url.startswith("sqlite:///"):
        return SqliteReader(Path(database_url.removeprefix("sqlite:///")))
    if database_url.startswith("postgresql"):
        return PostgresReader(database_url)
    raise ValueError(f"no reader for {database_url!r}")


def postgres_name(database_url: str) -> str | None:
    """The database's name on the PostgreSQL server (None for a SQLite file)."""
    if not database_url.startswith("postgresql"):
        return None
    return urlsplit(database_url).path.lstrip("/")


@asynccontextmanager
async def for_services(names: Iterable[str], backend: str) -> AsyncIterator[dict[str, str | None]]:
    """A database URL per service: None on SQLite (each service's file in its folder, as
    `benchmarks.procs.Service` makes it), else a fresh PostgreSQL database each, all dropped
    when the block ends, however it ends."""
    if backend == SQLITE:
        yield dict.fromkeys(names)
        return
    if backend != POSTGRESQL:
        raise ValueError(f"unknown database backend {backend!r}")
    urls: dict[str, str | None] = {}
    try:
        for name in names:
            urls[name] = await create_postgres_database()
        yield urls
    finally:
        # Each is dropped even when another's drop fails (gather runs them all).
        await asyncio.gather(*(drop_postgres_database(url) for url in urls.values() if url))


def epoch(value: str | datetime) -> float:
    """A stored UTC timestamp as seconds since the epoch (as `time.time()` gives): naive
    UTC text from SQLite, or a datetime from PostgreSQL (aware; naive taken as UTC)."""
    return read_time(value).timestamp()


def uuid_key(value: str | uuid.UUID) -> str:
    """One spelling for an id from the API ('8c5e...-...'), from SQLite (hex) and from
    PostgreSQL (a UUID)."""
    return read_uuid(value).hex
