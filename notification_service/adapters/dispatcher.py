"""Delivers recorded notifications through a channel, after the transaction that recorded
them has committed: a notification is never sent for an event that was rolled back.

Rows are leased while being sent, so several instances never send the same one at once.
A notification waits until its order's contact is known (the order's outcome can arrive
before the order itself), is marked sent right after the channel accepts it, and a failed
send is retried with exponential back-off, then marked failed after the last attempt.
"""

import asyncio
import logging
from datetime import timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import and_, bindparam, exists, select, update

from notification_service.adapters.channels import NotificationChannel, Undeliverable
from notification_service.adapters.repository import to_notification, with_contact
from notification_service.adapters.tables import contacts, notifications
from notification_service.domain.model import Status
from shared.db import Database, claim_due, utcnow
from shared.worker import poll_loop

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
        linger: float = 0.02,
    ) -> None:
        self._db = db
        self._channel = channel
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self._lease = timedelta(seconds=lease_seconds)
        self._retry_base = retry_base_seconds
        self._poll_interval = poll_interval
        self._linger = linger
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        await poll_loop(self._dispatch_all, self._wake, self._poll_interval, "dispatch")

    async def _dispatch_all(self) -> None:
        # Linger a moment after a wake-up: notifications recorded in quick succession then
        # go out, and are marked, together.
        await asyncio.sleep(self._linger)
        while await self.dispatch_once() == self._batch_size:
            pass

    async def dispatch_once(self) -> int:
        t = notifications
        contact_known = exists().where(contacts.c.order_id == t.c.order_id)
        async with self._db.transaction() as conn:
            claimed = await claim_due(
                conn,
                t,
                ready=and_(t.c.status == Status.PENDING.value, contact_known),
                lease_until=utcnow() + self._lease,
                limit=self._batch_size,
            )
            query = with_contact(select(t)).where(t.c.id.in_([row.id for row in claimed]))
            rows = (await conn.execute(query.order_by(t.c.created_at))).all()
        sent: list[dict[str, Any]] = []
        for row in rows:
            notification = to_notification(row)
            attempts = row.attempts + 1
            try:
                await self._channel.send(notification)
            except Undeliverable as exc:
                log.info("notification %s skipped: %s", row.id, exc)
                await self._finish(
                    row.id,
                    status=Status.SKIPPED.value,
                    attempts=attempts,
                    recipient=notification.recipient,
                    last_error=str(exc),
                )
            except Exception as exc:
                await self._failed(row.id, attempts, exc)
            else:
                sent.append(
                    {
                        "b_id": row.id,
                        "b_attempts": attempts,
                        "b_recipient": notification.recipient,
                        "b_sent_at": utcnow(),
                    }
                )
                if self._channel.marks_each_send:
                    await self._mark_sent(sent)
                    sent = []
        await self._mark_sent(sent)
        return len(claimed)

    async def _mark_sent(self, sent: list[dict[str, Any]]) -> None:
        if not sent:
            return
        t = notifications
        async with self._db.transaction() as conn:
            await conn.execute(
                update(t)
                .where(t.c.id == bindparam("b_id"))
                .values(
                    status=Status.SENT.value,
                    attempts=bindparam("b_attempts"),
                    recipient=bindparam("b_recipient"),
                    sent_at=bindparam("b_sent_at"),
                ),
                sent,
            )

    async def _failed(self, notification_id: UUID, attempts: int, exc: Exception) -> None:
        final = attempts >= self._max_attempts
        delay = min(self._retry_base * 2 ** (attempts - 1), 300.0)
        log.warning(
            "sending notification %s failed (attempt %d/%d): %r%s",
            notification_id,
            attempts,
            self._max_attempts,
            exc,
            "; giving up" if final else f"; retrying in {delay:g}s",
        )
        await self._finish(
            notification_id,
            status=Status.FAILED.value if final else Status.PENDING.value,
            attempts=attempts,
            claimed_until=utcnow() + timedelta(seconds=delay),
            last_error=repr(exc)[:1000],
        )

    async def _finish(self, notification_id: UUID, **values: Any) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                update(notifications).where(notifications.c.id == notification_id).values(**values)
            )
