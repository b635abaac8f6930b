from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Row, select

from inventory_service.adapters.tables import stock
from inventory_service.domain.model import Reservation, StockLevel
from shared.persistence.plain_sql import PlainSql, read_uuid
from shared.persistence.sql import dialect_insert, utcnow


class SqlStockRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._sql = PlainSql(conn)

    def lock(self, skus: Iterable[str]) -> dict[str, StockLevel]:
        """Read the levels of `skus` and hold them until the transaction ends (row locks in
        sku order on PostgreSQL; SQLite's write lock is already held)."""
        wanted = sorted(skus)
        if not wanted:
            return {}
        rows = self._sql.rows(
            "SELECT sku, available, reserved FROM stock "
            f"WHERE sku IN {self._sql.in_list(len(wanted))} ORDER BY sku"
            + (" FOR UPDATE" if self._sql.postgres else ""),
            wanted,
        )
        return {sku: StockLevel(sku, available, reserved) for sku, available, reserved in rows}

    def get(self, sku: str) -> StockLevel | None:
        row = self._conn.execute(select(stock).where(stock.c.sku == sku)).first()
        return _level(row) if row else None

    def all(self) -> Sequence[StockLevel]:
        return [_level(row) for row in self._conn.execute(select(stock).order_by(stock.c.sku))]

    def save(self, levels: Iterable[StockLevel]) -> None:
        now = self._sql.time(utcnow())
        self._sql.executemany(
            "UPDATE stock SET available = ?, reserved = ?, updated_at = ? WHERE sku = ?",
            [(level.available, level.reserved, now, level.sku) for level in levels],
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
        self._sql = PlainSql(conn)

    def existing(self, order_ids: Iterable[UUID]) -> set[UUID]:
        ids = [self._sql.uuid(order_id) for order_id in order_ids]
        if not ids:
            return set()
        rows = self._sql.rows(
            f"SELECT order_id FROM reservations WHERE order_id IN {self._sql.in_list(len(ids))}",
            ids,
        )
        return {read_uuid(row[0]) for row in rows}

    def add(self, new: Sequence[Reservation]) -> None:
        sql = self._sql
        now = sql.time(utcnow())
        sql.executemany(
            "INSERT INTO reservations (order_id, status, reason, items, event_id, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    sql.uuid(r.order_id),
                    r.status,
                    r.reason,
                    sql.json([{"sku": line.sku, "quantity": line.quantity} for line in r.lines]),
                    r.event_id,
                    now,
                )
                for r in new
            ],
        )


def _level(row: Row[Any]) -> StockLevel:
    return StockLevel(row.sku, row.available, row.reserved)
