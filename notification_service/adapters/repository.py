from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Row, Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from notification_service.adapters.tables import contacts, notifications
from notification_service.domain.model import Kind, Notification, Status, compose, recipient_for
from shared.db import insert_ignoring_duplicates, utcnow


class NotificationRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def remember_contacts(self, orders: Iterable[tuple[UUID, str, str | None]]) -> None:
        """Whom to tell about each (order id, customer id, e-mail). The outcome of an order
        can arrive before the order itself (they come through different queues): its
        notification waits, unsent, until the contact is known; the recipient is resolved
        when it is sent."""
        now = utcnow()
        rows = [
            {"order_id": order_id, "customer_id": customer_id, "email": email, "created_at": now}
            for order_id, customer_id, email in orders
        ]
        if rows:
            await self._conn.execute(insert_ignoring_duplicates(self._conn, contacts), rows)

    async def add(self, wanted: Iterable[tuple[UUID, Kind, str | None]]) -> None:
        """Record a notification for each (order id, kind, detail) unless the order has
        one of that kind already."""
        now = utcnow()
        rows = []
        for order_id, kind, detail in wanted:
            subject, body = compose(kind, order_id, detail)
            rows.append(
                {
                    "id": uuid4(),
                    "order_id": order_id,
                    "kind": kind.value,
                    "recipient": None,
                    "subject": subject,
                    "body": body,
                    "status": Status.PENDING.value,
                    "created_at": now,
                    "claimed_until": now,
                    "attempts": 0,
                }
            )
        if rows:
            await self._conn.execute(insert_ignoring_duplicates(self._conn, notifications), rows)

    async def list(self, *, order_id: UUID | None, limit: int) -> Sequence[Notification]:
        query = (
            with_contact(select(notifications))
            .order_by(notifications.c.created_at.desc())
            .limit(limit)
        )
        if order_id is not None:
            query = query.where(notifications.c.order_id == order_id)
        return [to_notification(row) for row in await self._conn.execute(query)]


def with_contact(query: Select[Any]) -> Select[Any]:
    """Add the order's contact (if known yet) to a query of notifications."""
    return query.add_columns(contacts.c.customer_id, contacts.c.email).outerjoin(
        contacts, contacts.c.order_id == notifications.c.order_id
    )


def to_notification(row: Row[Any]) -> Notification:
    """A notification from a row of `with_contact(...)`."""
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
    )
