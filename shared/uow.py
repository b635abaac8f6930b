"""Unit of work: one database transaction, plus what must happen only if it commits."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db import Database
from shared.envelope import CloudEvent
from shared.outbox import Outbox, OutboxMessage


class UnitOfWork:
    """What a handler gets: the open transaction, a way to publish events with it, and a
    way to act once it has committed."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.staged: list[OutboxMessage] = []
        self.committed_callbacks: list[Callable[[], None]] = []

    def publish(self, event: CloudEvent, exchange: str) -> None:
        """Publish `event` if, and only if, this unit of work commits."""
        self.staged.append(OutboxMessage.of(event, exchange))

    def on_commit(self, callback: Callable[[], None]) -> None:
        self.committed_callbacks.append(callback)


@asynccontextmanager
async def unit_of_work(db: Database, outbox: Outbox | None = None) -> AsyncIterator[UnitOfWork]:
    """Commit when the block ends normally, roll back if it raises. Events staged with
    `publish` are written to the outbox in the same transaction and handed to the relay
    once it has committed."""
    async with db.transaction() as conn:
        uow = UnitOfWork(conn)
        yield uow
        if uow.staged:
            if outbox is None:
                raise RuntimeError("this service has no outbox to publish events with")
            await outbox.store(conn, uow.staged)
    if uow.staged and outbox is not None:
        outbox.committed(uow.staged)
    for callback in uow.committed_callbacks:
        callback()
