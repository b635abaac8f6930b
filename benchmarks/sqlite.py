"""Reading the services' SQLite files directly (read only) to collect timestamps in bulk.

Timestamps are the services' own: written with `shared.db.utcnow()` inside the transaction
that commits them (naive UTC text), so they precede their commit by at most that commit.
"""

import asyncio
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _query(db_path: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def query(db_path: Path, sql: str) -> list[tuple[Any, ...]]:
    return await asyncio.to_thread(_query, db_path, sql)


async def scalar(db_path: Path, sql: str) -> int:
    rows = await query(db_path, sql)
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0


def epoch(text: str) -> float:
    """A stored UTC timestamp as seconds since the epoch (as `time.time()` gives)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def uuid_key(value: str) -> str:
    """One spelling for an id from the API ('8c5e...-...') and from SQLite (hex)."""
    return uuid.UUID(value).hex
