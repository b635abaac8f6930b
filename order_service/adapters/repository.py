from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Row, select

from order_service.adapters.tables import orders
from order_service.domain.model import Order, OrderLine, OrderStatus
from shared.persistence.plain_sql import PlainSql, read_json, read_time, read_uuid

_COLUMNS = (
    "id, customer_id, email, items, status, rejection_reason, created_at, updated_at, "
    "idempotency_key, request_hash, currency"
)


class SqlOrderRepository:
    """Orders. What every order takes (add, lock, save) is plain SQL (see
    shared.persistence.plain_sql); the API's reads go through SQLAlchemy."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._sql = PlainSql(conn)

    def add_many(self, new: Sequence[Order]) -> None:
        sql = self._sql
        sql.executemany(
            f"INSERT INTO orders ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    sql.uuid(o.id),
                    o.customer_id,
                    o.email,
                    sql.json([_line_row(line) for line in o.items]),
                    o.status.value,
                    o.rejection_reason,
                    sql.time(o.created_at),
                    sql.time(o.updated_at or o.created_at),
                    o.idempotency_key,
                    o.request_hash,
                    o.currency,
                )
                for o in new
            ],
        )

    def get(self, order_id: UUID) -> Order | None:
        row = self._conn.execute(select(orders).where(orders.c.id == order_id)).first()
        return _from_row(row) if row else None

    def by_idempotency_keys(self, keys: Iterable[str]) -> dict[str, Order]:
        wanted = list(keys)
        if not wanted:
            return {}
        rows = self._sql.rows(
            f"SELECT {_COLUMNS} FROM orders "
            f"WHERE idempotency_key IN {self._sql.in_list(len(wanted))}",
            wanted,
        )
        found = [_from_plain(row) for row in rows]
        return {order.idempotency_key: order for order in found if order.idempotency_key}

    def list(self, *, status: OrderStatus | None, limit: int) -> Sequence[Order]:
        query = select(orders).order_by(orders.c.created_at.desc()).limit(limit)
        if status is not None:
            query = query.where(orders.c.status == status.value)
        return [_from_row(row) for row in self._conn.execute(query)]

    def lock_many(self, order_ids: Iterable[UUID]) -> dict[UUID, Order]:
        ids = [self._sql.uuid(order_id) for order_id in order_ids]
        if not ids:
            return {}
        rows = self._sql.rows(
            f"SELECT {_COLUMNS} FROM orders WHERE id IN {self._sql.in_list(len(ids))} "
            "ORDER BY id" + (" FOR UPDATE" if self._sql.postgres else ""),
            ids,
        )
        return {order.id: order for order in map(_from_plain, rows)}

    def save_outcomes(self, changed: Iterable[Order]) -> None:
        sql = self._sql
        sql.executemany(
            "UPDATE orders SET status = ?, rejection_reason = ?, updated_at = ? WHERE id = ?",
            [
                (
                    o.status.value,
                    o.rejection_reason,
                    sql.time(o.updated_at or o.created_at),
                    sql.uuid(o.id),
                )
                for o in changed
            ],
        )


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


def _from_plain(row: tuple[Any, ...]) -> Order:
    (order_id, customer_id, email, items, status, reason, created, updated, key, digest, cur) = row
    return Order(
        id=read_uuid(order_id),
        customer_id=customer_id,
        email=email,
        items=[_line(item) for item in read_json(items)],
        status=OrderStatus(status),
        rejection_reason=reason,
        created_at=read_time(created),
        updated_at=read_time(updated),
        idempotency_key=key,
        request_hash=digest,
        currency=cur,
    )
