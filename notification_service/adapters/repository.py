from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Connection, Row, Select, select

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
from shared.persistence.plain_sql import PlainSql, read_json, read_time, read_uuid
from shared.persistence.sql import utcnow
from shared.telemetry.tracing import trace_headers


class SqlContactRepository:
    def __init__(self, conn: Connection) -> None:
        self._sql = PlainSql(conn)

    def remember(self, new: Iterable[Contact]) -> None:
        sql = self._sql
        now = sql.time(utcnow())
        sql.executemany(
            "INSERT INTO contacts (order_id, customer_id, email, created_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [(sql.uuid(c.order_id), c.customer_id, c.email, now) for c in new],
        )


# What a claim returns: the claimed notifications, each with its order's contact (the claim
# requires one), read in the claiming UPDATE itself rather than by a SELECT after it (a
# statement less per claim: a round trip less on PostgreSQL). SQLite's RETURNING cannot
# name a joined table, but both take a subquery in it.
_CONTACT = "FROM contacts c WHERE c.order_id = notifications.order_id"
_RETURNING_CLAIMED = (
    "RETURNING id, order_id, kind, recipient, subject, body, status, created_at, attempts, "
    f"trace, (SELECT c.customer_id {_CONTACT}), (SELECT c.email {_CONTACT})"
)


class SqlNotificationRepository:
    """Notifications. What every event and every send takes is plain SQL (see
    shared.persistence.plain_sql); the API's reads go through SQLAlchemy."""

    def __init__(self, conn: Connection, *, lease_seconds: float = 30.0) -> None:
        self._conn = conn
        self._sql = PlainSql(conn)
        self._lease = timedelta(seconds=lease_seconds)

    def claim_sendable_of(self, order_ids: Iterable[UUID]) -> list[Notification]:
        sql = self._sql
        orders = list({sql.uuid(order_id) for order_id in order_ids})
        if not orders:
            return []
        now = utcnow()
        claimed = sql.rows(
            "UPDATE notifications SET claimed_until = ? "
            f"WHERE order_id IN {sql.in_list(len(orders))} AND status = ? AND claimed_until <= ? "
            f"AND EXISTS (SELECT 1 {_CONTACT}) {_RETURNING_CLAIMED}",
            [sql.time(now + self._lease), *orders, Status.PENDING.value, sql.time(now)],
        )
        return _claimed(claimed)

    def add(self, wanted: Iterable[NewNotification]) -> None:
        sql = self._sql
        now = sql.time(utcnow())
        rows = []
        for new in wanted:
            subject, body = compose(new.kind, new.order_id, new.detail, new.amount)
            rows.append(
                (
                    sql.uuid(uuid4()),
                    sql.uuid(new.order_id),
                    new.kind.value,
                    subject,
                    body,
                    Status.PENDING.value,
                    now,
                    now,
                    sql.json(trace_headers(new.cause)),
                )
            )
        sql.executemany(
            "INSERT INTO notifications (id, order_id, kind, recipient, subject, body, status, "
            "created_at, claimed_until, attempts, trace) "
            "VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?, 0, ?) ON CONFLICT DO NOTHING",
            rows,
        )

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
        sql = self._sql
        now = sql.time(utcnow())
        due = (
            "SELECT n.id FROM notifications n WHERE n.status = ? AND n.claimed_until <= ? "
            "AND EXISTS (SELECT 1 FROM contacts c WHERE c.order_id = n.order_id) "
            "ORDER BY n.created_at LIMIT ?" + (" FOR UPDATE SKIP LOCKED" if sql.postgres else "")
        )
        claimed = sql.rows(
            f"UPDATE notifications SET claimed_until = ? WHERE id IN ({due}) "
            "AND status = ? AND claimed_until <= ? " + _RETURNING_CLAIMED,
            [sql.time(lease_until), Status.PENDING.value, now, limit, Status.PENDING.value, now],
        )
        return _claimed(claimed)

    def mark_sent(self, sent: Sequence[tuple[Notification, datetime]]) -> None:
        sql = self._sql
        sql.executemany(
            "UPDATE notifications SET status = ?, attempts = ?, recipient = ?, sent_at = ? "
            "WHERE id = ?",
            [
                (Status.SENT.value, n.attempts + 1, n.recipient, sql.time(at), sql.uuid(n.id))
                for n, at in sent
            ],
        )

    def mark_skipped(self, notification: Notification, reason: str) -> None:
        self._sql.execute(
            "UPDATE notifications SET status = ?, attempts = ?, recipient = ?, last_error = ? "
            "WHERE id = ?",
            [
                Status.SKIPPED.value,
                notification.attempts + 1,
                notification.recipient,
                reason,
                self._sql.uuid(notification.id),
            ],
        )

    def mark_failed_attempt(
        self, notification: Notification, status: Status, retry_at: datetime, error: str
    ) -> None:
        self._sql.execute(
            "UPDATE notifications SET status = ?, attempts = ?, claimed_until = ?, "
            "last_error = ? WHERE id = ?",
            [
                status.value,
                notification.attempts + 1,
                self._sql.time(retry_at),
                error[:1000],
                self._sql.uuid(notification.id),
            ],
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


def _claimed(rows: Iterable[tuple[Any, ...]]) -> list[Notification]:
    """Claimed notifications, oldest first (RETURNING gives its rows in no set order)."""
    return sorted((_from_plain(row) for row in rows), key=lambda n: n.created_at)


def _from_plain(row: tuple[Any, ...]) -> Notification:
    (id_, order_id, kind, recipient, subject, body, status, created, attempts, trace) = row[:10]
    customer_id, email = row[10], row[11]
    if recipient is None and customer_id is not None:
        recipient = recipient_for(customer_id, email)
    return Notification(
        id=read_uuid(id_),
        order_id=read_uuid(order_id),
        kind=Kind(kind),
        recipient=recipient,
        subject=subject,
        body=body,
        status=Status(status),
        created_at=read_time(created),
        attempts=attempts,
        email=email,
        trace=read_json(trace) or {} if trace is not None else {},
    )
