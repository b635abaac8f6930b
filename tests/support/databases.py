"""Databases under test: a PostgreSQL database of a test's own, SQL run into a service's
database (a fault, or its fix), and a lock that stalls a reservation."""

import os
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from sqlalchemy import text

from shared.persistence.database import Database

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


async def create_postgres_database() -> str:
    name = f"test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    parts = urlsplit(POSTGRES_URL)
    return urlunsplit(("postgresql+psycopg", parts.netloc, f"/{name}", "", ""))


async def drop_postgres_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def execute(db: Database, statements: list[str]) -> None:
    """Run SQL statements in one transaction (a test's fault or fix in a service's database)."""

    def run(conn: Any) -> None:
        for statement in statements:
            conn.execute(text(statement))

    await db.run(run)


@asynccontextmanager
async def holding_stock(database_url: str, sku: str) -> AsyncIterator[None]:
    """Hold a lock that any reservation of `sku` needs, so the inventory consumer blocks
    mid-transaction with its deliveries unacknowledged: SQLite's writer lock, or the
    stock row's lock on PostgreSQL."""
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(database_url.split(":///", 1)[1], isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    pg = await asyncpg.connect(database_url.replace("+psycopg", ""))
    try:
        async with pg.transaction():
            await pg.execute("SELECT * FROM stock WHERE sku = $1 FOR UPDATE", sku)
            yield
    finally:
        await pg.close()
