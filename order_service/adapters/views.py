"""Read-only queries for the API, on a reader connection."""

from collections.abc import Sequence
from uuid import UUID

from order_service.adapters.repository import SqlOrderRepository
from order_service.domain.model import Order, OrderStatus
from shared.persistence.database import Database


class OrderViews:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, order_id: UUID) -> Order | None:
        return await self._db.read(lambda conn: SqlOrderRepository(conn).get(order_id))

    async def list(self, *, status: OrderStatus | None, limit: int) -> Sequence[Order]:
        return await self._db.read(
            lambda conn: SqlOrderRepository(conn).list(status=status, limit=limit)
        )
