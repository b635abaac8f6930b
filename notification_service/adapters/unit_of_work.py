from collections.abc import Callable, Sequence

from sqlalchemy import Connection

from notification_service.adapters import tables
from notification_service.adapters.repository import (
    SqlContactRepository,
    SqlNotificationRepository,
)
from notification_service.domain.model import Notification
from notification_service.unit_of_work import NotificationUnitOfWork
from shared.persistence.unit_of_work import SqlUnitOfWork


class SqlNotificationUnitOfWork(SqlUnitOfWork, NotificationUnitOfWork):
    def __init__(
        self,
        conn: Connection,
        hand_to_sender: Callable[[Sequence[Notification]], None],
        *,
        lease_seconds: float = 30.0,
    ) -> None:
        super().__init__(conn, tables.inbox)
        self.contacts = SqlContactRepository(conn)
        self.notifications = SqlNotificationRepository(conn, lease_seconds=lease_seconds)
        self.hand_to_sender = hand_to_sender
