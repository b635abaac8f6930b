"""Read-only queries for the API, on a reader connection."""

from collections.abc import Sequence
from uuid import UUID

from notification_service.adapters.repository import SqlNotificationRepository
from notification_service.domain.model import Notification
from shared.persistence.database import Database


class NotificationViews:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def list(self, *, order_id: UUID | None, limit: int) -> Sequence[Notification]:
        return await self._db.read(
            lambda conn: SqlNotificationRepository(conn).latest(order_id=order_id, limit=limit)
        )
