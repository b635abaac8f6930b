"""Delivers recorded notifications through a channel, after the transaction that recorded
them has committed: a notification is never sent for an event that was rolled back.

Rows are leased while being sent, so several instances never send the same one at once.
The fast path needs no transaction of its own: the consumer's transaction that records a
notification also leases it to this process, and hands it over once committed
(`accept`). Whatever that misses (a contact not known yet, a crash, another instance's
lease run out) the sweep claims every `poll_interval`. A notification waits until its
order's contact is known (the order's outcome can arrive before the order itself); a
failed send is retried with back-off (`domain.model.after_failed_send`), then marked
failed. A send is marked at once when the channel says so (e-mail: the shorter the window
for a duplicate, the better); otherwise the marks of all that went out in `mark_delay`
are written in one statement. A crash before the mark re-sends once the lease has run out.
"""

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta

from notification_service.adapters.channels import NotificationChannel, Undeliverable
from notification_service.adapters.repository import SqlNotificationRepository
from notification_service.domain.model import Notification, Status, after_failed_send
from shared.core.delayed_batch import DelayedBatch
from shared.messaging.poll_loop import poll_loop
from shared.persistence.database import Database
from shared.persistence.sql import utcnow
from shared.telemetry.metrics import Metrics
from shared.telemetry.tracing import SpanKind, StatusCode, Tracing, context_of
from shared.telemetry.tracing import Status as SpanStatus

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(
        self,
        db: Database,
        channel: NotificationChannel,
        *,
        batch_size: int = 64,
        max_attempts: int = 8,
        lease_seconds: float = 30.0,
        retry_base_seconds: float = 1.0,
        poll_interval: float = 1.0,
        mark_delay: float = 0.25,
        metrics: Metrics | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self._metrics = metrics or Metrics()
        self._tracer = (tracing or Tracing("notification")).tracer
        self._db = db
        self._channel = channel
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self._lease = timedelta(seconds=lease_seconds)
        self._retry_base = retry_base_seconds
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._ready: deque[Notification] = deque()
        # What went out, marked sent in one statement a moment later.
        self._sent: DelayedBatch[tuple[Notification, datetime]] = DelayedBatch(
            batch_size, min(mark_delay, lease_seconds / 4), self._wake.set
        )
        self._last_sweep = 0.0

    def accept(self, notifications: Sequence[Notification]) -> None:
        """Send these (leased to this process by the transaction that just committed)."""
        self._ready.extend(notifications)
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        try:
            await poll_loop(self._dispatch_all, self._wake, self._poll_interval, "dispatch")
        except asyncio.CancelledError:
            # Stopping: what went out is marked now, not sent again by the next process.
            await self._mark_sent(now=True)
            raise

    async def _dispatch_all(self) -> None:
        while self._ready:
            await self._send_all([self._ready.popleft() for _ in range(len(self._ready))])
        loop = asyncio.get_running_loop()
        if loop.time() - self._last_sweep >= self._poll_interval:
            self._last_sweep = loop.time()
            # What went out is marked before the sweep looks: a notification sent late (the
            # sender behind) may have outlived its lease, and the sweep would send it again.
            await self._mark_sent(now=True)
            while await self.dispatch_once() == self._batch_size:
                pass
        await self._mark_sent()

    async def dispatch_once(self) -> int:
        """Claim what is due (the sweep) and send it; how many were claimed."""
        lease_until = utcnow() + self._lease
        claimed = await self._db.run(
            lambda conn: SqlNotificationRepository(conn).claim_sendable(
                self._batch_size, lease_until
            )
        )
        await self._send_all(claimed)
        await self._mark_sent()
        return len(claimed)

    async def _send_all(self, notifications: Sequence[Notification]) -> None:
        for notification in notifications:
            # The send continues the trace of the event that caused the notification.
            with self._tracer.start_as_current_span(
                f"notify {notification.kind}",
                context=context_of(notification.trace),
                kind=SpanKind.PRODUCER,
                attributes={
                    "notification.id": str(notification.id),
                    "notification.kind": str(notification.kind),
                    "notification.channel": self._channel.name,
                    "order.id": str(notification.order_id),
                },
            ) as span:
                error, stopping = await self._send(notification)
                if isinstance(error, Undeliverable):
                    log.info("notification %s skipped: %s", notification.id, error)
                    span.add_event("skipped", {"reason": str(error)})
                    self._count("skipped")
                    await self._skipped(notification, str(error))
                elif error is not None:
                    span.set_status(SpanStatus(StatusCode.ERROR, repr(error)))
                    await self._failed(notification, error)
                else:
                    self._count("sent")
                    self._sent.add([(notification, utcnow())])
                    if self._channel.marks_each_send:
                        await self._mark_sent(now=True)
            if stopping:
                raise asyncio.CancelledError

    async def _send(self, notification: Notification) -> tuple[Exception | None, bool]:
        """Send; (what the channel raised, whether the service began to stop meanwhile).
        A send cut off midway may have reached the server all the same (the mail delivered,
        the client waiting for the answer to QUIT), and would go out again from the next
        instance once its lease ran out: a rolling upgrade would mail twice. So a stop lets
        a slow channel's send under way finish (its timeout bounds it) and be marked; a
        second cancel cuts it off. A quick channel (the log) has nothing to cut off, and
        its sends no task of their own (12-33 us of CPU each here)."""
        if not self._channel.marks_each_send:
            try:
                await self._channel.send(notification)
            except Exception as exc:
                return exc, False
            return None, False
        sending = asyncio.ensure_future(self._channel.send(notification))
        try:
            await asyncio.wait([sending])
            stopping = False
        except asyncio.CancelledError:
            try:
                await asyncio.wait([sending])
            except asyncio.CancelledError:
                sending.cancel()
                raise
            stopping = True
        error = sending.exception()
        if error is None or isinstance(error, Exception):
            return error, stopping
        raise error

    async def _mark_sent(self, *, now: bool = False) -> None:
        if sent := self._sent.take(now=now):
            await self._db.run(lambda conn: SqlNotificationRepository(conn).mark_sent(sent))

    def _count(self, outcome: str) -> None:
        self._metrics.notifications_sent.labels(self._channel.name, outcome).inc()

    async def _skipped(self, notification: Notification, reason: str) -> None:
        await self._db.run(
            lambda conn: SqlNotificationRepository(conn).mark_skipped(notification, reason)
        )

    async def _failed(self, notification: Notification, exc: Exception) -> None:
        attempts = notification.attempts + 1
        status, delay = after_failed_send(
            attempts, max_attempts=self._max_attempts, base_delay_seconds=self._retry_base
        )
        log.warning(
            "sending notification %s failed (attempt %d/%d): %r%s",
            notification.id,
            attempts,
            self._max_attempts,
            exc,
            "; giving up" if status is Status.FAILED else f"; retrying in {delay:g}s",
        )
        self._count("given_up" if status is Status.FAILED else "failed")
        retry_at = utcnow() + timedelta(seconds=delay)
        await self._db.run(
            lambda conn: SqlNotificationRepository(conn).mark_failed_attempt(
                notification, status, retry_at, repr(exc)
            )
        )
