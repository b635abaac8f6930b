"""The stream reader's sink: each batch indexed with the offset it reaches, in one
transaction; then whoever shows the rows is told."""

from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge

from audit_service import handlers
from audit_service.adapters.repository import SqlStreamOffsets
from audit_service.domain.model import IndexedEvent, LoggedMessage
from audit_service.unit_of_work import AuditUnitOfWork
from shared.contract.events import EventSchemas
from shared.contract.signing import Verifier
from shared.core.uow import Transactions
from shared.messaging.stream_consumer import StreamMessage
from shared.persistence.database import Database


class Indexer:
    def __init__(
        self,
        db: Database,
        transactions: Transactions[AuditUnitOfWork],
        *,
        verifier: Verifier,
        schemas: EventSchemas,
        registry: CollectorRegistry,
        on_indexed: Callable[[list[IndexedEvent]], None] = lambda rows: None,
    ) -> None:
        self._db = db
        self._transactions = transactions
        self._verifier = verifier
        self._schemas = schemas
        self.on_indexed = on_indexed
        self._indexed = Counter(
            "audit_events_indexed",
            "Messages of the event log indexed, by verdict (genuine, rejected: not proven to"
            " come from its producer, invalid: not a valid event).",
            ["verdict"],
            registry=registry,
        )
        self._offset = Gauge(
            "audit_stream_offset", "The last offset of the event log indexed.", registry=registry
        )

    async def resume_from(self) -> int | None:
        last = await self._db.read(lambda conn: SqlStreamOffsets(conn).last(handlers.STREAM))
        return None if last is None else last + 1

    async def record(self, messages: Sequence[StreamMessage]) -> None:
        logged = [
            LoggedMessage(m.offset, m.body, m.headers, m.message_id, m.type) for m in messages
        ]
        rows = await self._transactions(
            lambda uow: handlers.index(logged, uow, verifier=self._verifier, schemas=self._schemas)
        )
        for row in rows:
            self._indexed.labels(row.verdict).inc()
        if rows:
            self._offset.set(rows[-1].offset)
        self.on_indexed(rows)
