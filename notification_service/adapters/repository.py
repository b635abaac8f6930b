from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Connection, Row, Select, and_, bindparam, exists, select, update

from notification_service.adapters.tables import contacts, notifications
from notification_service.domain.model import (
    Contact,
    Kind,
    NewNotification,
    Notification,
    Status,
    compose,
    recipient_for,
)
from shared.persistence.sql import claim_due, insert_ignoring_duplicates, utcnow
from shared.telemetry.tracing import trace_headers


class SqlContactRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def remember(self, new: Iterable[Contact]) -> None:
        now = utcnow()
        rows = [
            {
                "order_id": c.order_id,
                "customer_id": c.customer_id,
                "email": c.email,
                "created_at": now,
            }
            for c in new
        ]
        if rows:
            self._conn.execute(insert_ignoring_duplicates(self._conn, contacts), rows)


class SqlNotificationRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, wanted: Iterable[NewNotification]) -> None:
        now = utcnow()
        rows = []
        for new in wanted:
            subject, body = compose(new.kind, new.order_id, new.detail, new.amount)
            rows.append(
                {
                    "id": uuid4(),
                    "order_id": new.order_id,
                    "kind": new.kind.value,
                    "recipient": None,
                    "subject": subject,
                    "body": body,
                    "status": Status.PENDING.value,
                    "created_at": now,
                    "claimed_until": now,
                    "attempts": 0,
                    "trace": trace_headers(new.cause),
                }
            )
        if rows:
            self._conn.execute(insert_ignoring_duplicates(self._conn, notifications), rows)

    def latest(self, *, order_id: UUID | None, limit: int) -> Sequence[Notification]:
        query = (
            _with_contact(select(notifications))
            .order_by(notifications.c.created_at.desc())
            .limit(limit)
        )
        if order_id is not None:
            query = query.where(notifications.c.order_id == order_id)
        return [_notification(row) for row in self._conn.execute(query)]

    def claim_sendable(self, limit: int, lease_until: datetime) -> list[Notification]:
        """Lease up to `limit` pending notifications whose order's contact is known and
        whose lease has run out (several instances never send the same one at once)."""
        t = notifications
        contact_known = exists().where(contacts.c.order_id == t.c.order_id)
        claimed = claim_due(
            self._conn,
            t,
            ready=and_(t.c.status == Status.PENDING.value, contact_known),
            lease_until=lease_until,
            limit=limit,
        )
        query = _with_contact(select(t)).where(t.c.id.in_([row.id for row in claimed]))
        return [_notification(row) for row in self._conn.execute(query.order_by(t.c.created_at))]

    def mark_sent(self, sent: Sequence[tuple[Notification, datetime]]) -> None:
        if not sent:
            return
        self._conn.execute(
            update(notifications)
            .where(notifications.c.id == bindparam("b_id"))
            .values(
                status=Status.SENT.value,
                attempts=bindparam("b_attempts"),
                recipient=bindparam("b_recipient"),
                sent_at=bindparam("b_sent_at"),
            ),
            [
                {
                    "b_id": n.id,
                    "b_attempts": n.attempts + 1,
                    "b_recipient": n.recipient,
                    "b_sent_at": at,
                }
                for n, at in sent
            ],
        )

    def mark_skipped(self, notification: Notification, reason: str) -> None:
        self._update(
            notification.id,
            status=Status.SKIPPED.value,
            attempts=notification.attempts + 1,
            recipient=notification.recipient,
            last_error=reason,
        )

    def mark_failed_attempt(
        self, notification: Notification, status: Status, retry_at: datetime, error: str
    ) -> None:
        self._update(
            notification.id,
            status=status.value,
            attempts=notification.attempts + 1,
            claimed_until=retry_at,
            last_error=error[:1000],
        )

    def _update(self, notification_id: UUID, **values: Any) -> None:
        self._conn.execute(
            update(notifications).where(notifications.c.id == notification_id).values(**values)
        )


def _with_contact(query: Select[Any]) -> Select[Any]:
    """Add the order's contact (if known yet) to a query of notifications."""
    return query.add_columns(contacts.c.customer_id, contacts.c.email).outerjoin(
        contacts, contacts.c.order_id == notifications.c.order_id
    )


def _notification(row: Row[Any]) -> Notification:
    """A notification from a row of `_with_contact(...)`."""
    recipient = row.recipient
    if recipient is None and row.customer_id is not None:
        recipient = recipient_for(row.customer_id, row.email)
    return Notification(
        id=row.id,
        order_id=row.order_id,
        kind=Kind(row.kind),
        recipient=recipient,
        subject=row.subject,
        body=row.body,
        status=Status(row.status),
        created_at=row.created_at,
        attempts=row.attempts,
        email=row.email,
        trace=row.trace or {},
    )
