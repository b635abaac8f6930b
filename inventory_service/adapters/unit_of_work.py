from sqlalchemy import Connection

from inventory_service.adapters import tables
from inventory_service.adapters.repository import SqlReservationRepository, SqlStockRepository
from inventory_service.unit_of_work import InventoryUnitOfWork
from shared.persistence.unit_of_work import SqlUnitOfWork


class SqlInventoryUnitOfWork(SqlUnitOfWork, InventoryUnitOfWork):
    def __init__(self, conn: Connection) -> None:
        super().__init__(conn, tables.inbox)
        self.stock = SqlStockRepository(conn)
        self.reservations = SqlReservationRepository(conn)
