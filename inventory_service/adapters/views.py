"""Read-only queries for the API, on a reader connection."""

from collections.abc import Sequence

from inventory_service.adapters.repository import SqlStockRepository
from inventory_service.domain.model import StockLevel
from shared.persistence.database import Database


class StockViews:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def all(self) -> Sequence[StockLevel]:
        return await self._db.read(lambda conn: SqlStockRepository(conn).all())

    async def get(self, sku: str) -> StockLevel | None:
        return await self._db.read(lambda conn: SqlStockRepository(conn).get(sku))
