"""Outbox storage: the table of events committed with the changes that caused them, and
the SQL the relay (`shared.messaging.outbox_relay`) needs: insert, claim, mark, prune.

Rows are written already leased to the writing process for `lease_seconds`, so its relay
can publish them straight after the commit while no other instance's sweep touches them;
if that fails, or the process dies, the lease runs out and any instance's sweep claims
the row again. A row is marked published only after the broker confirms it.
"""

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Row,
    String,
    Table,
    Text,
    func,
    select,
    update,
)

from shared.contract.outbound import OutboundMessage
from shared.persistence.database import Database
from shared.persistence.plain_sql import PlainSql
from shared.persistence.retention import Pruner, PruneRule
from shared.persistence.sql import UTCDateTime, claim_due, utcnow

log = logging.getLogger(__name__)

_CHUNK = 500  # ids per IN (...) list


def outbox_table(metadata: MetaData) -> Table:
    table = Table(
        "outbox",
        metadata,
        Column("id", String(255), primary_key=True),
        Column("exchange", String(255), nullable=False),
        Column("routing_key", String(255), nullable=False),
        Column("event_type", String(255), nullable=False),
        Column("correlation_id", String(255), nullable=False),
        Column("body", LargeBinary, nullable=False),
        Column("headers", JSON, nullable=False, default=dict),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("claimed_until", UTCDateTime(), nullable=False),
        Column("published_at", UTCDateTime(), nullable=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", Text, nullable=True),
    )
    Index("ix_outbox_unpublished", table.c.claimed_until, table.c.published_at)
    # Pruning's order on PostgreSQL: published rows only (SQLite prunes in rowid order).
    Index(
        "ix_outbox_published_at",
        table.c.published_at,
        postgresql_where=table.c.published_at.isnot(None),
    ).ddl_if(dialect="postgresql")
    return table


class OutboxStore:
    def __init__(self, db: Database, table: Table, *, lease_seconds: float = 10.0) -> None:
        self._db = db
        self._table = table
        self._lease = timedelta(seconds=lease_seconds)

    def insert(self, conn: Connection, messages: Sequence[OutboundMessage]) -> None:
        """Insert rows inside the caller's transaction, leased to this process."""
        sql = PlainSql(conn)
        claimed_until = sql.time(utcnow() + self._lease)
        sql.executemany(
            f"INSERT INTO {self._table.name} (id, exchange, routing_key, event_type, "
            "correlation_id, body, headers, created_at, claimed_until, attempts) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            [
                (
                    m.id,
                    m.exchange,
                    m.routing_key,
                    m.event_type,
                    m.correlation_id,
                    m.body,
                    sql.json(dict(m.headers)),
                    sql.time(m.created_at),
                    claimed_until,
                )
                for m in messages
            ],
        )

    async def claim_due(self, limit: int) -> list[OutboundMessage]:
        """Lease up to `limit` unpublished rows whose lease has run out, oldest first."""
        t = self._table

        def claim(conn: Connection) -> Sequence[Row[Any]]:
            return claim_due(
                conn,
                t,
                ready=t.c.published_at.is_(None),
                lease_until=utcnow() + self._lease,
                limit=limit,
            )

        return [_message(row) for row in await self._db.run(claim)]

    async def mark_published(self, ids: Sequence[str]) -> None:
        t = self._table
        published_at = utcnow()

        def mark(conn: Connection) -> None:
            sql = PlainSql(conn)
            at = sql.time(published_at)
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                sql.execute(
                    f"UPDATE {t.name} SET published_at = ?, attempts = attempts + 1 "
                    f"WHERE id IN {sql.in_list(len(chunk))}",
                    [at, *chunk],
                )

        await self._db.run(mark)

    async def mark_failed(self, ids: Sequence[str], error: str, retry_at: datetime) -> None:
        """Record a failed publication; the rows are due again at `retry_at`."""
        t = self._table

        def mark(conn: Connection) -> None:
            for start in range(0, len(ids), _CHUNK):
                conn.execute(
                    update(t)
                    .where(t.c.id.in_(ids[start : start + _CHUNK]))
                    .values(
                        claimed_until=retry_at,
                        attempts=t.c.attempts + 1,
                        last_error=error[:1000],
                    )
                )

        await self._db.run(mark)

    async def prune(self, retention: timedelta) -> int:
        """Delete rows published longer ago than `retention`, in batches; how many."""
        rule = PruneRule(self._table.name, ("id",), "published_at", retention, "created_at")
        pruned = await Pruner(self._db, [rule]).prune()
        return pruned[rule.table]

    async def backlog(self) -> tuple[int, float]:
        """Unpublished rows, and the age in seconds of the oldest (0 when none)."""
        t = self._table
        query = select(func.count(), func.min(t.c.created_at)).where(t.c.published_at.is_(None))

        def read(conn: Connection) -> tuple[int, float]:
            count, oldest = conn.execute(query).one()
            if not count or oldest is None:
                return 0, 0.0
            if oldest.tzinfo is None:  # SQLite: min() of a column loses its type
                oldest = datetime.fromisoformat(str(oldest)).replace(tzinfo=UTC)
            return int(count), max(0.0, (utcnow() - oldest).total_seconds())

        return await self._db.read(read)

    async def unpublished_count(self) -> int:
        t = self._table
        query = select(func.count()).select_from(t).where(t.c.published_at.is_(None))

        def count(conn: Connection) -> int:
            return int(conn.scalar(query) or 0)

        return await self._db.read(count)


def _message(row: Row[Any]) -> OutboundMessage:
    return OutboundMessage(
        id=row.id,
        exchange=row.exchange,
        routing_key=row.routing_key,
        event_type=row.event_type,
        correlation_id=row.correlation_id,
        body=row.body,
        created_at=row.created_at,
        headers=row.headers or {},
    )
