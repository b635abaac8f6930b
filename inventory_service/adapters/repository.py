from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Row, bindparam, select, update

from inventory_service.adapters.tables import reservations, stock
from inventory_service.domain.model import Reservation, StockLevel
from shared.persistence.sql import dialect_insert, utcnow


class SqlStockRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def lock(self, skus: Iterable[str]) -> dict[str, StockLevel]:
        """Read the levels of `skus` and hold them until the transaction ends (row locks in
        sku order on PostgreSQL; SQLite's write lock is already held)."""
        query = (
            select(stock)
            .where(stock.c.sku.in_(sorted(skus)))
            .order_by(stock.c.sku)
            .with_for_update()
        )
        return {row.sku: _level(row) for row in self._conn.execute(query)}

    def get(self, sku: str) -> StockLevel | None:
        row = self._conn.execute(select(stock).where(stock.c.sku == sku)).first()
        return _level(row) if row else None

    def all(self) -> Sequence[StockLevel]:
        return [_level(row) for row in self._conn.execute(select(stock).order_by(stock.c.sku))]

    def save(self, levels: Iterable[StockLevel]) -> None:
        rows = [
            {"b_sku": level.sku, "b_available": level.available, "b_reserved": level.reserved}
            for level in levels
        ]
        if not rows:
            return
        self._conn.execute(
            update(stock)
            .where(stock.c.sku == bindparam("b_sku"))
            .values(
                available=bindparam("b_available"),
                reserved=bindparam("b_reserved"),
                updated_at=utcnow(),
            ),
            rows,
        )

    def set_available(self, sku: str, available: int) -> StockLevel:
        now = utcnow()
        stmt = dialect_insert(self._conn, stock).values(
            sku=sku, available=available, reserved=0, updated_at=now
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[stock.c.sku], set_={"available": available, "updated_at": now}
        ).returning(*stock.c)
        return _level(self._conn.execute(stmt).one())


class SqlReservationRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def existing(self, order_ids: Iterable[UUID]) -> set[UUID]:
        query = select(reservations.c.order_id).where(reservations.c.order_id.in_(list(order_ids)))
        return set(self._conn.scalars(query).all())

    def add(self, new: Sequence[Reservation]) -> None:
        if not new:
            return
        now = utcnow()
        self._conn.execute(
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


def _level(row: Row[Any]) -> StockLevel:
    return StockLevel(row.sku, row.available, row.reserved)
