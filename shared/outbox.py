"""Transactional outbox: an event is stored in the same transaction as the change that
caused it, and published afterwards by the relay, so a committed change is never without
its event and an event is never published for a change that rolled back.

Rows are written already leased to the writing process for `lease_seconds`, and the relay
publishes them straight after commit (low latency). If that fails, or the process dies,
the lease runs out and any instance's sweep claims the row again. A row is marked
published only after the broker confirms it: delivery is at-least-once, and consumers
deduplicate by event id.
"""

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import aio_pika
from sqlalchemy import (
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Row,
    String,
    Table,
    Text,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db import Database, UTCDateTime, claim_due, utcnow
from shared.envelope import CloudEvent, amqp_message, encode
from shared.worker import poll_loop

log = logging.getLogger(__name__)


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
        Column("created_at", UTCDateTime(), nullable=False),
        Column("claimed_until", UTCDateTime(), nullable=False),
        Column("published_at", UTCDateTime(), nullable=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", Text, nullable=True),
    )
    Index("ix_outbox_unpublished", table.c.claimed_until, table.c.published_at)
    return table


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: str
    exchange: str
    routing_key: str
    event_type: str
    correlation_id: str
    body: bytes
    created_at: datetime

    @classmethod
    def of(cls, event: CloudEvent, exchange: str, routing_key: str = "") -> "OutboxMessage":
        return cls(
            id=event.id,
            exchange=exchange,
            routing_key=routing_key,
            event_type=event.type,
            correlation_id=event.correlation_id,
            body=encode(event),
            created_at=event.time or utcnow(),
        )

    @classmethod
    def from_row(cls, row: Row[Any]) -> "OutboxMessage":
        return cls(
            id=row.id,
            exchange=row.exchange,
            routing_key=row.routing_key,
            event_type=row.event_type,
            correlation_id=row.correlation_id,
            body=row.body,
            created_at=row.created_at,
        )

    def to_amqp(self, app_id: str) -> aio_pika.Message:
        return amqp_message(
            self.body,
            event_id=self.id,
            event_type=self.event_type,
            correlation_id=self.correlation_id,
            timestamp=self.created_at,
            app_id=app_id,
        )


class Publisher(Protocol):
    """What the relay needs from the broker (see `shared.broker.Broker`)."""

    @property
    def is_ready(self) -> bool: ...

    async def publish(self, exchange: str, routing_key: str, message: aio_pika.Message) -> None: ...


class Outbox:
    def __init__(
        self,
        db: Database,
        table: Table,
        publisher: Publisher,
        *,
        app_id: str,
        batch_size: int = 256,
        poll_interval: float = 1.0,
        lease_seconds: float = 10.0,
        retention_seconds: float = 24 * 3600,
        mark_delay: float = 0.25,
        max_pending: int = 10_000,
    ) -> None:
        self._db = db
        self._table = table
        self._publisher = publisher
        self._app_id = app_id
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._lease = timedelta(seconds=lease_seconds)
        self._retention = timedelta(seconds=retention_seconds)
        self._pending: deque[OutboxMessage] = deque()
        self._max_pending = max_pending
        # Ids the broker confirmed, marked published in one statement a moment later.
        self._confirmed: list[str] = []
        self._confirmed_since = 0.0
        self._mark_delay = min(mark_delay, lease_seconds / 4)
        self._mark_timer: asyncio.TimerHandle | None = None
        self._wake = asyncio.Event()
        self._last_sweep = 0.0
        self._last_prune = 0.0

    async def store(self, conn: AsyncConnection, messages: Sequence[OutboxMessage]) -> None:
        """Insert rows inside the caller's transaction, leased to this process."""
        now = utcnow()
        await conn.execute(
            self._table.insert(),
            [
                {
                    "id": m.id,
                    "exchange": m.exchange,
                    "routing_key": m.routing_key,
                    "event_type": m.event_type,
                    "correlation_id": m.correlation_id,
                    "body": m.body,
                    "created_at": m.created_at,
                    "claimed_until": now + self._lease,
                    "attempts": 0,
                }
                for m in messages
            ],
        )

    def committed(self, messages: Sequence[OutboxMessage]) -> None:
        """Hand rows that just committed to the relay for immediate publication. (Past
        `max_pending` waiting in memory they are left to the sweep: memory stays bounded
        however far the broker falls behind.)"""
        if len(self._pending) < self._max_pending:
            self._pending.extend(messages)
        self._wake.set()

    async def run(self) -> None:
        """The relay loop; runs until cancelled."""
        await poll_loop(self._relay_once, self._wake, self._poll_interval, "outbox relay")

    async def _relay_once(self) -> None:
        now = asyncio.get_running_loop().time()
        if not self._publisher.is_ready:
            # Leased rows come back through the sweep once the broker does.
            self._pending.clear()
            return
        while self._pending:
            batch = [
                self._pending.popleft() for _ in range(min(self._batch_size, len(self._pending)))
            ]
            await self._publish(batch)
        if now - self._last_sweep >= self._poll_interval:
            self._last_sweep = now
            while batch := await self._claim_due():
                await self._publish(batch)
                if len(batch) < self._batch_size:
                    break
        if now - self._last_prune >= 60:
            self._last_prune = now
            await self.prune()
        await self._mark_published()

    def _mark_due(self) -> None:
        self._mark_timer = None
        self._wake.set()

    async def _mark_published(self, *, now: bool = False) -> None:
        """Mark confirmed rows published, in one statement for all confirmed in the last
        `mark_delay`: one write per batch of publications rather than one per commit. A
        crash before the mark only re-publishes them once their lease has run out (the
        consumers' inboxes absorb the copies)."""
        if not self._confirmed:
            return
        loop = asyncio.get_running_loop()
        waited = loop.time() - self._confirmed_since
        if not now and len(self._confirmed) < self._batch_size and waited < self._mark_delay:
            if self._mark_timer is None:
                self._mark_timer = loop.call_later(self._mark_delay - waited, self._mark_due)
            return
        if self._mark_timer is not None:
            self._mark_timer.cancel()
            self._mark_timer = None
        ids, self._confirmed = self._confirmed, []
        t = self._table
        published_at = utcnow()
        async with self._db.transaction() as conn:
            for start in range(0, len(ids), 500):
                await conn.execute(
                    update(t)
                    .where(t.c.id.in_(ids[start : start + 500]))
                    .values(published_at=published_at, attempts=t.c.attempts + 1)
                )

    async def _claim_due(self) -> list[OutboxMessage]:
        t = self._table
        async with self._db.transaction() as conn:
            rows = await claim_due(
                conn,
                t,
                ready=t.c.published_at.is_(None),
                lease_until=utcnow() + self._lease,
                limit=self._batch_size,
            )
        if rows:
            log.info("outbox sweep claimed %d unpublished event(s)", len(rows))
        return [OutboxMessage.from_row(row) for row in rows]

    async def _publish(self, batch: list[OutboxMessage]) -> None:
        results = await asyncio.gather(
            *(
                self._publisher.publish(m.exchange, m.routing_key, m.to_amqp(self._app_id))
                for m in batch
            ),
            return_exceptions=True,
        )
        outcomes = list(zip(batch, results, strict=True))
        if not self._confirmed:
            self._confirmed_since = asyncio.get_running_loop().time()
        self._confirmed.extend(m.id for m, r in outcomes if not isinstance(r, BaseException))
        failed = {m.id: r for m, r in outcomes if isinstance(r, BaseException)}
        if failed:
            t = self._table
            now = utcnow()
            error = next(iter(failed.values()))
            log.warning("publishing %d outbox event(s) failed: %r", len(failed), error)
            async with self._db.transaction() as conn:
                await conn.execute(
                    update(t)
                    .where(t.c.id.in_(list(failed)))
                    .values(
                        # Retry soon, not after a full lease: the broker may be back already.
                        claimed_until=now + timedelta(seconds=self._poll_interval),
                        attempts=t.c.attempts + 1,
                        last_error=repr(error)[:1000],
                    )
                )

    async def prune(self) -> int:
        """Delete rows published longer ago than the retention; returns how many."""
        t = self._table
        cutoff = utcnow() - self._retention
        async with self._db.transaction() as conn:
            result = await conn.execute(delete(t).where(t.c.published_at < cutoff))
        if result.rowcount:
            log.info("pruned %d published outbox row(s)", result.rowcount)
        return int(result.rowcount or 0)

    async def unpublished_count(self) -> int:
        async with self._db.reading() as conn:
            count = await conn.scalar(
                select(func.count())
                .select_from(self._table)
                .where(self._table.c.published_at.is_(None))
            )
        return int(count or 0)

    async def drain(self, grace_seconds: float) -> None:
        """On shutdown: give events committed just now a chance to go out. Whatever is
        left stays in the table and is relayed by the next process to start."""
        batch = list(self._pending) if self._publisher.is_ready else []
        self._pending.clear()
        try:
            async with asyncio.timeout(grace_seconds):
                if batch:
                    await self._publish(batch)
                await self._mark_published(now=True)
        except Exception as exc:
            log.warning("outbox drain on shutdown incomplete: %r", exc)
