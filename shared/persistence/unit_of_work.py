"""The SQL unit of work, and the runner that gives each piece of work its own.

`SqlTransactions(work)` runs `work(uow)` on a database thread in one transaction, writes
the events it staged to the outbox in that same transaction, and once it has committed
hands them to whoever publishes them (`on_committed`: the outbox relay) and runs the
unit of work's after-commit callbacks on the event loop.
"""

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy import Connection, Table

from shared.contract.outbound import OutboundMessage
from shared.contract.signing import EventSigner
from shared.core.uow import UnitOfWork
from shared.persistence.database import Database
from shared.persistence.inbox import SqlInbox
from shared.persistence.outbox_store import OutboxStore

T = TypeVar("T")
UowT = TypeVar("UowT", bound=UnitOfWork)


class SqlUnitOfWork(UnitOfWork):
    """Base of a service's SQL unit of work: subclasses add their repositories, built on
    `self.conn`."""

    def __init__(self, conn: Connection, inbox: Table) -> None:
        super().__init__()
        self.conn = conn
        self.inbox = SqlInbox(conn, inbox)


class SqlTransactions(Generic[UowT]):
    def __init__(
        self,
        db: Database,
        unit_of_work: Callable[[Connection], UowT],
        *,
        outbox: OutboxStore | None = None,
        signer: EventSigner | None = None,
        on_committed: Callable[[Sequence[OutboundMessage]], None] | None = None,
    ) -> None:
        if outbox is not None and signer is None:
            raise ValueError("a service that publishes needs a key to sign its events")
        self._db = db
        self._unit_of_work = unit_of_work
        self._outbox = outbox
        self._signer = signer
        self._on_committed = on_committed

    async def __call__(self, work: Callable[[UowT], T]) -> T:
        def transaction(conn: Connection) -> tuple[T, UowT, list[OutboundMessage]]:
            uow = self._unit_of_work(conn)
            result = work(uow)
            staged: list[OutboundMessage] = []
            if uow.staged:
                if self._outbox is None or self._signer is None:
                    raise RuntimeError("this service has no outbox to publish events with")
                # Signed as it is staged: the signature travels with the stored row.
                staged = [m.with_headers(self._signer.sign(m.body)) for m in uow.staged]
                self._outbox.insert(conn, staged)
            return result, uow, staged

        result, uow, staged = await self._db.run(transaction)
        if staged and self._on_committed is not None:
            self._on_committed(staged)
        for callback in uow.committed_callbacks:
            callback()
        return result
