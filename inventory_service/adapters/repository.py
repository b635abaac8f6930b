from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from inventory_service.adapters.tables import reservations, stock
from inventory_service.domain.model import Line, StockLevel
from shared.db import dialect_insert, utcnow


class StockRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def lock(self, skus: Iterable[str]) -> dict[str, StockLevel]:
        """Read the levels of `skus` and hold them until the transaction ends (row locks in
        sku order on PostgreSQL; SQLite's write lock is already held)."""
        query = (
            select(stock)
            .where(stock.c.sku.in_(sorted(skus)))
            .order_by(stock.c.sku)
            .with_for_update()
        )
        return {row.sku: _level(row) for row in await self._conn.execute(query)}

    async def get(self, sku: str) -> StockLevel | None:
        row = (await self._conn.execute(select(stock).where(stock.c.sku == sku))).first()
        return _level(row) if row else None

    async def all(self) -> Sequence[StockLevel]:
        return [
            _level(row) for row in await self._conn.execute(select(stock).order_by(stock.c.sku))
        ]

    async def save(self, levels: Iterable[StockLevel]) -> None:
        rows = [
            {"b_sku": level.sku, "b_available": level.available, "b_reserved": level.reserved}
            for level in levels
        ]
        if not rows:
            return
        now = utcnow()
        await self._conn.execute(
            update(stock)
            .where(stock.c.sku == bindparam("b_sku"))
            .values(
                available=bindparam("b_available"), reserved=bindparam("b_reserved"), updated_at=now
            ),
            rows,
        )

    async def set_available(self, sku: str, available: int) -> StockLevel:
        now = utcnow()
        stmt = dialect_insert(self._conn, stock).values(
            sku=sku, available=available, reserved=0, updated_at=now
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[stock.c.sku], set_={"available": available, "updated_at": now}
        ).returning(*stock.c)
        return _level((await self._conn.execute(stmt)).one())

    async def orders_with_reservations(self, order_ids: Iterable[UUID]) -> set[UUID]:
        query = select(reservations.c.order_id).where(reservations.c.order_id.in_(list(order_ids)))
        return set((await self._conn.scalars(query)).all())

    async def record(self, new: Sequence["Reservation"]) -> None:
        if not new:
            return
        now = utcnow()
        await self._conn.execute(
            reservations.insert(),
            [
                {
                    "order_id": r.order_id,
                    "status": r.status,
                    "reason": r.reason,
                    "items": [{"sku": line.sku, "quantity": line.quantity} for line in r.lines],
                    "event_id": r.event_id,
                    "created_at": now,
                }
                for r in new
            ],
        )


@dataclass(frozen=True, slots=True)
class Reservation:
    order_id: UUID
    status: str
    lines: list[Line]
    event_id: str
    reason: str | None = None


def _level(row: Row[Any]) -> StockLevel:
    return StockLevel(row.sku, row.available, row.reserved)
