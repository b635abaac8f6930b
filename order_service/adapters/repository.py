from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Row, bindparam, select, update

from order_service.adapters.tables import orders
from order_service.domain.model import Order, OrderLine, OrderStatus


class SqlOrderRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add_many(self, new: Sequence[Order]) -> None:
        if new:
            self._conn.execute(orders.insert(), [_to_row(order) for order in new])

    def get(self, order_id: UUID) -> Order | None:
        row = self._conn.execute(select(orders).where(orders.c.id == order_id)).first()
        return _from_row(row) if row else None

    def by_idempotency_keys(self, keys: Iterable[str]) -> dict[str, Order]:
        query = select(orders).where(orders.c.idempotency_key.in_(list(keys)))
        return {row.idempotency_key: _from_row(row) for row in self._conn.execute(query)}

    def list(self, *, status: OrderStatus | None, limit: int) -> Sequence[Order]:
        query = select(orders).order_by(orders.c.created_at.desc()).limit(limit)
        if status is not None:
            query = query.where(orders.c.status == status.value)
        return [_from_row(row) for row in self._conn.execute(query)]

    def lock_many(self, order_ids: Iterable[UUID]) -> dict[UUID, Order]:
        query = (
            select(orders)
            .where(orders.c.id.in_(list(order_ids)))
            .order_by(orders.c.id)
            .with_for_update()
        )
        return {row.id: _from_row(row) for row in self._conn.execute(query)}

    def save_outcomes(self, changed: Iterable[Order]) -> None:
        rows = [
            {
                "b_id": order.id,
                "b_status": order.status.value,
                "b_reason": order.rejection_reason,
                "b_updated_at": order.updated_at,
            }
            for order in changed
        ]
        if rows:
            self._conn.execute(
                update(orders)
                .where(orders.c.id == bindparam("b_id"))
                .values(
                    status=bindparam("b_status"),
                    rejection_reason=bindparam("b_reason"),
                    updated_at=bindparam("b_updated_at"),
                ),
                rows,
            )


def _to_row(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "customer_id": order.customer_id,
        "email": order.email,
        "items": [_line_row(line) for line in order.items],
        "currency": order.currency,
        "status": order.status.value,
        "rejection_reason": order.rejection_reason,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "idempotency_key": order.idempotency_key,
        "request_hash": order.request_hash,
    }


def _from_row(row: Row[Any]) -> Order:
    return Order(
        id=row.id,
        customer_id=row.customer_id,
        email=row.email,
        items=[_line(item) for item in row.items],
        currency=row.currency,
        status=OrderStatus(row.status),
        rejection_reason=row.rejection_reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
        idempotency_key=row.idempotency_key,
        request_hash=row.request_hash,
    )


def _line_row(line: OrderLine) -> dict[str, Any]:
    row: dict[str, Any] = {"sku": line.sku, "quantity": line.quantity}
    if line.unit_price is not None:
        row["unit_price"] = format(line.unit_price, "f")
    return row


def _line(item: dict[str, Any]) -> OrderLine:
    price = item.get("unit_price")
    return OrderLine(item["sku"], item["quantity"], Decimal(price) if price is not None else None)
