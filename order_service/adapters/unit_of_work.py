from sqlalchemy import Connection

from order_service.adapters import tables
from order_service.adapters.repository import SqlOrderRepository
from order_service.unit_of_work import OrderUnitOfWork
from shared.persistence.unit_of_work import SqlUnitOfWork


class SqlOrderUnitOfWork(SqlUnitOfWork, OrderUnitOfWork):
    def __init__(self, conn: Connection) -> None:
        super().__init__(conn, tables.inbox)
        self.orders = SqlOrderRepository(conn)
