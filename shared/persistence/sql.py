"""SQL helpers for both dialects: a UTC timestamp type, INSERT ... ON CONFLICT, and
leasing rows to one of several competing workers."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, DateTime, Row, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


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


def dialect_insert(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT construct, which offers ON CONFLICT on both SQLite and PostgreSQL."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignoring_duplicates(conn: Connection, table: Table) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING for the connection's dialect."""
    return dialect_insert(conn, table).on_conflict_do_nothing()


def claim_due(
    conn: Connection,
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
    rows = conn.execute(stmt).all()
    return sorted(rows, key=lambda row: row.created_at)
