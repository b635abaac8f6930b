"""The outbox relay: publishes what the outbox stores, so a committed change is never
without its event and an event is never published for a change that rolled back.

Rows that just committed are handed over in memory (`committed`) and published at once:
low latency. Whatever that misses (a failed publish, a crash, the broker away, more than
`max_pending` waiting) the sweep claims from the table once its lease has run out, in any
instance. A row is marked published only after the broker confirms it: delivery is
at-least-once, and consumers deduplicate by event id.
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from shared.contract.outbound import OutboundMessage
from shared.core.delayed_batch import DelayedBatch
from shared.messaging.broker import amqp_message
from shared.messaging.delivery import Publisher
from shared.messaging.poll_loop import poll_loop
from shared.telemetry.metrics import Metrics
from shared.telemetry.tracing import (
    SpanKind,
    Status,
    StatusCode,
    Tracing,
    context_of,
    headers_of,
    messaging_attributes,
)

log = logging.getLogger(__name__)


class OutboxStorage(Protocol):
    """What the relay needs of the table (`shared.persistence.outbox_store.OutboxStore`)."""

    async def claim_due(self, limit: int) -> list[OutboundMessage]: ...

    async def mark_published(self, ids: Sequence[str]) -> None: ...

    async def mark_failed(self, ids: Sequence[str], error: str, retry_at: datetime) -> None: ...

    async def backlog(self) -> tuple[int, float]:
        """Unpublished rows, and the age in seconds of the oldest (0 when none)."""
        ...


class OutboxRelay:
    def __init__(
        self,
        storage: OutboxStorage,
        publisher: Publisher,
        *,
        app_id: str,
        user_id: str | None = None,
        batch_size: int = 256,
        poll_interval: float = 1.0,
        lease_seconds: float = 10.0,
        mark_delay: float = 0.25,
        max_pending: int = 10_000,
        metrics: Metrics | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self._storage = storage
        self._metrics = metrics or Metrics()
        self._tracer = (tracing or Tracing(app_id)).tracer
        self._publisher = publisher
        self._app_id = app_id
        self._user_id = user_id
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._pending: deque[OutboundMessage] = deque()
        self._max_pending = max_pending
        self._wake = asyncio.Event()
        # Ids the broker confirmed, marked published in one statement a moment later.
        self._confirmed: DelayedBatch[str] = DelayedBatch(
            batch_size, min(mark_delay, lease_seconds / 4), self._wake.set
        )
        self._last_sweep = 0.0

    def committed(self, messages: Sequence[OutboundMessage]) -> None:
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
        sweep = now - self._last_sweep >= self._poll_interval
        if sweep:
            self._last_sweep = now
            # Read also while the broker is away: that is when the backlog grows.
            pending, oldest_age = await self._storage.backlog()
            self._metrics.outbox_pending.set(pending)
            self._metrics.outbox_oldest_age.set(oldest_age)
        if not self._publisher.is_ready:
            # Leased rows come back through the sweep once the broker does.
            self._pending.clear()
            return
        while self._pending:
            batch = [
                self._pending.popleft() for _ in range(min(self._batch_size, len(self._pending)))
            ]
            await self._publish(batch)
        if sweep:
            # What the broker has confirmed is marked before the sweep looks: a row handed
            # over at commit but published late (the relay behind) may have outlived its
            # lease, and the sweep would publish it again.
            await self._mark_published(now=True)
            while batch := await self._storage.claim_due(self._batch_size):
                log.info("outbox sweep claimed %d unpublished event(s)", len(batch))
                await self._publish(batch)
                if len(batch) < self._batch_size:
                    break
        await self._mark_published()

    async def _mark_published(self, *, now: bool = False) -> None:
        """Mark confirmed rows published, in one statement for all confirmed in the last
        `mark_delay`: one write per batch of publications rather than one per commit. A
        crash before the mark only re-publishes them once their lease has run out (the
        consumers' inboxes absorb the copies)."""
        if ids := self._confirmed.take(now=now):
            await self._storage.mark_published(ids)

    async def _publish(self, batch: list[OutboundMessage]) -> None:
        results = await asyncio.gather(
            *(self._publish_one(m) for m in batch), return_exceptions=True
        )
        outcomes = list(zip(batch, results, strict=True))
        self._confirmed.add(m.id for m, r in outcomes if not isinstance(r, BaseException))
        failed = [m.id for m, r in outcomes if isinstance(r, BaseException)]
        if failed:
            error = next(r for _, r in outcomes if isinstance(r, BaseException))
            log.warning("publishing %d outbox event(s) failed: %r", len(failed), error)
            # Retry soon, not after a full lease: the broker may be back already.
            retry_at = datetime.now(UTC) + timedelta(seconds=self._poll_interval)
            await self._storage.mark_failed(failed, repr(error), retry_at)

    async def _publish_one(self, message: OutboundMessage) -> None:
        """Publish with a span that continues the context stored with the row (the request
        or the message that caused it), however late; the message carries this span."""
        span = self._tracer.start_span(
            f"publish {message.exchange or message.routing_key}",
            context=context_of(message.headers),
            kind=SpanKind.PRODUCER,
            attributes=messaging_attributes(
                "publish",
                message.exchange,
                message_id=message.id,
                routing_key=message.routing_key,
            ),
        )
        trace = headers_of(span) if span.is_recording() else {}
        amqp = amqp_message(message.with_headers(trace), app_id=self._app_id, user_id=self._user_id)
        started = time.perf_counter()
        try:
            await self._publisher.publish(message.exchange, message.routing_key, amqp)
        except BaseException as exc:
            self._metrics.outbox_publish_failures.labels(message.event_type).inc()
            span.set_status(Status(StatusCode.ERROR, f"not confirmed: {exc!r}"))
            raise
        else:
            self._metrics.outbox_published.labels(message.event_type).inc()
            self._metrics.outbox_confirm_seconds.observe(time.perf_counter() - started)
        finally:
            span.end()

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
