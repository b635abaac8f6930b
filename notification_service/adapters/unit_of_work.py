from collections.abc import Callable

from sqlalchemy import Connection

from notification_service.adapters import tables
from notification_service.adapters.repository import (
    SqlContactRepository,
    SqlNotificationRepository,
)
from notification_service.unit_of_work import NotificationUnitOfWork
from shared.persistence.unit_of_work import SqlUnitOfWork


class SqlNotificationUnitOfWork(SqlUnitOfWork, NotificationUnitOfWork):
    def __init__(self, conn: Connection, wake_sender: Callable[[], None]) -> None:
        super().__init__(conn, tables.inbox)
        self.contacts = SqlContactRepository(conn)
        self.notifications = SqlNotificationRepository(conn)
        self.wake_sender = wake_sender
