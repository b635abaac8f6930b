"""The transactional outbox without a broker (a SQLite file in tmp_path): an event staged
by a unit of work is stored in the same transaction as the change that caused it, handed to
the relay only once that transaction has committed, and leased to this process meanwhile,
so no other relay's sweep publishes it a second time; a row a sweep claims is leased to
that sweep in the same way."""

import sqlite3
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Column, Connection, ForeignKey, Integer, MetaData, String, Table

from shared.contract.envelope import CloudEvent, new_event
from shared.contract.events import ORDER_SOURCE, OrderPlacedV1
from shared.contract.outbound import OutboundMessage
from shared.contract.topology import ORDER_EVENTS
from shared.persistence.database import Database
from shared.persistence.inbox import inbox_table
from shared.persistence.outbox_store import OutboxStore, outbox_table
from shared.persistence.unit_of_work import SqlTransactions, SqlUnitOfWork
from tests.support import keys
from tests.support.polling import eventually
from tests.unit.fakes import lines

LEASE_SECONDS = 1.5

metadata = MetaData()
inbox = inbox_table(metadata)
outbox = outbox_table(metadata)
parents = Table("parents", metadata, Column("id", Integer, primary_key=True))
changes = Table(
    "changes",
    metadata,
    Column("id", String(64), primary_key=True),
    # Checked at COMMIT only: a row pointing nowhere makes the commit itself fail.
    Column(
        "parent_id",
        Integer,
        ForeignKey("parents.id", deferrable=True, initially="DEFERRED"),
        nullable=True,
    ),
)


class ChangeUnitOfWork(SqlUnitOfWork):
    def __init__(self, conn: Connection) -> None:
        super().__init__(conn, inbox)

    def change(self, change_id: str, parent_id: int | None = None) -> None:
        self.conn.execute(changes.insert().values(id=change_id, parent_id=parent_id))


@dataclass
class Outbox:
    path: Path
    store: OutboxStore
    transactions: SqlTransactions[ChangeUnitOfWork]
    # What the relay was handed, and what another connection saw committed at that moment.
    handed_over: list[tuple[list[str], list[str]]] = field(default_factory=list)

    def committed(self, table: str) -> list[str]:
        with closing(sqlite3.connect(self.path)) as conn:
            return sorted(row[0] for row in conn.execute(f"SELECT id FROM {table}"))


def placed() -> CloudEvent:
    data = OrderPlacedV1(order_id=uuid.uuid4(), customer_id="c-1", items=lines([("A", 1)]))
    return new_event(type=data.event_type, source=ORDER_SOURCE, data=data)


@pytest.fixture
async def outbox_world(tmp_path: Path) -> AsyncIterator[Outbox]:
    path = tmp_path / "outbox.db"
    db = Database(f"sqlite:///{path}", sqlite_synchronous="OFF")
    await db.create_all(metadata)
    store = OutboxStore(db, outbox, lease_seconds=LEASE_SECONDS)
    world: Outbox

    def on_committed(messages: Sequence[OutboundMessage]) -> None:
        world.handed_over.append(([m.id for m in messages], world.committed("outbox")))

    transactions = SqlTransactions(
        db, ChangeUnitOfWork, outbox=store, signer=keys.SIGNERS["order"], on_committed=on_committed
    )
    world = Outbox(path, store, transactions)
    try:
        yield world
    finally:
        await db.dispose()


async def test_staged_events_are_stored_in_the_outbox_with_the_change(
    outbox_world: Outbox,
) -> None:
    events = [placed(), placed()]

    def work(uow: ChangeUnitOfWork) -> None:
        uow.change("change-1")
        for event in events:
            uow.publish(event, ORDER_EVENTS)

    await outbox_world.transactions(work)

    ids = sorted(e.id for e in events)
    assert outbox_world.committed("changes") == ["change-1"]
    assert outbox_world.committed("outbox") == ids
    # Handed over once, after the commit: by then the rows were there for anyone to see.
    assert [(sorted(handed), seen) for handed, seen in outbox_world.handed_over] == [(ids, ids)]


@pytest.mark.parametrize("failure", ["handler-raises", "commit-fails"])
async def test_events_of_a_transaction_that_failed_are_never_handed_over(
    outbox_world: Outbox, failure: str
) -> None:
    def work(uow: ChangeUnitOfWork) -> None:
        uow.publish(placed(), ORDER_EVENTS)
        uow.change("change-1", parent_id=404 if failure == "commit-fails" else None)
        if failure == "handler-raises":
            raise RuntimeError("the handler failed after staging its event")

    with pytest.raises(Exception):  # noqa: B017 (a RuntimeError, or the driver's IntegrityError)
        await outbox_world.transactions(work)

    assert outbox_world.handed_over == []
    assert outbox_world.committed("outbox") == []
    assert outbox_world.committed("changes") == []


async def test_a_row_handed_over_at_commit_is_not_swept_while_its_lease_runs(
    outbox_world: Outbox,
) -> None:
    event = placed()
    await outbox_world.transactions(lambda uow: uow.publish(event, ORDER_EVENTS))
    assert [handed for handed, _ in outbox_world.handed_over] == [[event.id]]

    # The writing process publishes it now; any other relay's sweep must leave it alone...
    assert await outbox_world.store.claim_due(10) == []
    # ...until the lease runs out (that process died, say): then a sweep takes it.
    claimed = await eventually(
        lambda: outbox_world.store.claim_due(10),
        lambda rows: len(rows) > 0,
        timeout=10 * LEASE_SECONDS,
        what="the row claimed once its lease ran out",
    )
    assert [m.id for m in claimed] == [event.id]


async def test_a_row_claimed_by_a_sweep_is_not_claimed_again_while_its_lease_runs(
    outbox_world: Outbox,
) -> None:
    # A row as a crashed process leaves it: committed, never published, its lease run out.
    db = Database(f"sqlite:///{outbox_world.path}")
    crashed = OutboxStore(db, outbox, lease_seconds=0.001)
    sweeper = OutboxStore(db, outbox, lease_seconds=30)
    event = placed()
    try:
        await db.run(lambda conn: crashed.insert(conn, [OutboundMessage.of(event, ORDER_EVENTS)]))
        claimed = await eventually(
            lambda: sweeper.claim_due(10), lambda rows: len(rows) > 0, what="the row claimed"
        )
        assert [m.id for m in claimed] == [event.id]

        assert await sweeper.claim_due(10) == [], "leased to the first sweep"
    finally:
        await db.dispose()
