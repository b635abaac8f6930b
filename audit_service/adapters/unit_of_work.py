from sqlalchemy import Connection

from audit_service.adapters.repository import SqlEventIndex, SqlStreamOffsets
from audit_service.unit_of_work import AuditUnitOfWork


class SqlAuditUnitOfWork(AuditUnitOfWork):
    def __init__(self, conn: Connection) -> None:
        super().__init__()
        self.conn = conn
        self.events = SqlEventIndex(conn)
        self.offsets = SqlStreamOffsets(conn)
