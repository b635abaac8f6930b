"""The delivery machinery without a broker: a `BatchProcessor` on a real database (SQLite in
tmp_path) with a real `SqlTransactions`, fake deliveries on a fake channel and a fake
publisher; and the `OutboxRelay` on a real `OutboxStore` with that publisher.

The fake channel settles like RabbitMQ: `ack(multiple=True)` settles every unsettled
delivery up to that one, and settling a delivery twice is a channel error (recorded here,
since the processor swallows channel errors). The fake publisher "confirms" a copy by
returning, and refuses it by raising what aio-pika raises for a nack or an unroutable
`mandatory` publish. Everything that happens goes into one journal, so the order of
publishes and acks, and what was committed when an ack went out, can be asserted.

The effects table has no unique key: only the inbox stands between a second delivery and
a second effect, so these tests prove the inbox on its own.
"""

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import aio_pika
import orjson
import pytest
from aiormq.abc import AbstractChannel, DeliveredMessage
from aiormq.exceptions import DeliveryError, PublishError
from pamqp.commands import Basic
from pamqp.header import ContentHeader
from sqlalchemy import Column, Connection, ForeignKey, Integer, MetaData, String, Table

from shared.contract import headers as h
from shared.contract.envelope import CONTENT_TYPE, CloudEvent, encode, new_event
from shared.contract.events import ORDER_SOURCE, SCHEMAS, OrderPlacedV1, StockReservedV1
from shared.contract.signing import EventSigner
from shared.contract.topology import ORDER_EVENTS, QueueSpec
from shared.core.handlers import Event, PermanentError, Subscription, handles, one_at_a_time
from shared.messaging.delivery import Outgoing
from shared.messaging.outbox_relay import OutboxRelay
from shared.messaging.processing import BatchProcessor
from shared.persistence.database import Database
from shared.persistence.inbox import inbox_table
from shared.persistence.outbox_store import OutboxStore, outbox_table
from shared.persistence.unit_of_work import SqlTransactions, SqlUnitOfWork
from tests.support import keys
from tests.unit.fakes import lines

T = TypeVar("T")

QUEUE = QueueSpec("test.order-events", ORDER_EVENTS)
SCHEDULE = (0.5, 2.0)
SERVICE = "test-service"

metadata = MetaData()
inbox = inbox_table(metadata)
outbox = outbox_table(metadata)
parents = Table("parents", metadata, Column("id", Integer, primary_key=True))
effects = Table(
    "effects",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(255), nullable=False),
    Column("customer_id", String(128), nullable=False),
    # Checked at COMMIT only: a row pointing nowhere makes the commit itself fail.
    Column(
        "parent_id",
        Integer,
        ForeignKey("parents.id", deferrable=True, initially="DEFERRED"),
        nullable=True,
    ),
)

# What the handler does, chosen by the order's customer id.
OK = "ok"
RAISES = "raises"  # raises before writing anything
WRITES_THEN_RAISES = "writes-then-raises"
COMMIT_FAILS = "commit-fails"  # writes a row that fails a deferred constraint at COMMIT
PERMANENT = "permanent"


class EffectsUnitOfWork(SqlUnitOfWork):
    def __init__(self, conn: Connection) -> None:
        super().__init__(conn, inbox)

    def record(self, event: Event[OrderPlacedV1], parent_id: int | None = None) -> None:
        self.conn.execute(
            effects.insert().values(
                event_id=event.id, customer_id=event.data.customer_id, parent_id=parent_id
            )
        )


# --- fakes of the transport -----------------------------------------------------------------


class FakeChannel:
    def __init__(self, journal: list[tuple[Any, ...]], on_ack: Callable[[str], Any]) -> None:
        self.deliveries: list[FakeDelivery] = []
        self.errors: list[str] = []
        self._journal = journal
        self._on_ack = on_ack

    def deliver(
        self,
        body: bytes,
        *,
        headers: Mapping[str, Any] | None = None,
        message_id: str | None = None,
        type: str | None = None,
        signed_by: str | None = "order",
    ) -> "FakeDelivery":
        signature = keys.signed(body, signed_by) if signed_by else {}
        delivery = FakeDelivery(
            body=body,
            headers={**signature, **(headers or {})},
            message_id=message_id or f"m-{len(self.deliveries) + 1}",
            type=type,
            delivery_tag=len(self.deliveries) + 1,
            channel=self,
        )
        self.deliveries.append(delivery)
        return delivery

    def event(self, event: CloudEvent, headers: Mapping[str, Any] | None = None) -> "FakeDelivery":
        return self.deliver(encode(event), headers=headers, message_id=event.id, type=event.type)

    def settle(self, delivery: "FakeDelivery", outcome: str, multiple: bool) -> None:
        if delivery.outcome is not None:
            self.errors.append(f"{outcome} of settled delivery {delivery.message_id}")
            return
        targets = (
            [d for d in self.deliveries if d.delivery_tag <= delivery.delivery_tag]
            if multiple
            else [delivery]
        )
        for target in targets:
            if target.outcome is None:
                target.outcome = outcome
                committed = self._on_ack(target.message_id or "") if outcome == "ack" else None
                self._journal.append((outcome, target.message_id, committed))


@dataclass(eq=False)
class FakeDelivery:
    body: bytes
    headers: Mapping[str, Any]
    message_id: str | None
    type: str | None
    delivery_tag: int
    channel: FakeChannel
    content_type: str | None = CONTENT_TYPE
    content_encoding: str | None = None
    priority: int | None = None
    correlation_id: str | None = None
    reply_to: str | None = None
    timestamp: datetime | None = None
    app_id: str | None = "test-producer"
    outcome: str | None = None  # "ack" | "requeue" | "reject"

    async def ack(self, multiple: bool = False) -> None:
        self.channel.settle(self, "ack", multiple)

    async def nack(self, multiple: bool = False, requeue: bool = True) -> None:
        self.channel.settle(self, "requeue" if requeue else "reject", multiple)


@dataclass(frozen=True)
class Published:
    exchange: str
    routing_key: str
    message: Outgoing

    @property
    def properties(self) -> Basic.Properties:
        return self.message.properties

    @property
    def headers(self) -> dict[str, Any]:
        return dict(self.properties.headers or {})


def unconfirmed() -> BaseException:
    """What a publish raises when the broker nacks it."""
    return DeliveryError(None, Basic.Nack(delivery_tag=1))


def unroutable(exchange: str = "x", routing_key: str = "") -> BaseException:
    """What a `mandatory` publish raises when the broker returns it: no queue to take it."""
    returned = Basic.Return(
        reply_code=312, reply_text="NO_ROUTE", exchange=exchange, routing_key=routing_key
    )
    message = DeliveredMessage(returned, ContentHeader(), b"", cast(AbstractChannel, None))
    return PublishError(message, returned)


@dataclass
class FakePublisher:
    journal: list[tuple[Any, ...]]
    is_ready: bool = True
    # Returns the error to raise for a publish, or None to confirm it.
    refuse: Callable[[str, str, Outgoing], BaseException | None] | None = None
    confirmed: list[Published] = field(default_factory=list)
    refused: list[Published] = field(default_factory=list)

    async def publish(self, exchange: str, routing_key: str, message: Outgoing) -> None:
        await asyncio.sleep(0)  # a confirm is a round trip: let others run meanwhile
        published = Published(exchange, routing_key, message)
        error = self.refuse(exchange, routing_key, message) if self.refuse else None
        if error is not None:
            self.refused.append(published)
            self.journal.append(("refused", message.properties.message_id, exchange, routing_key))
            raise error
        self.confirmed.append(published)
        self.journal.append(("confirmed", message.properties.message_id, exchange, routing_key))


# --- the world under test -------------------------------------------------------------------


@dataclass
class World:
    db: Database
    path: Path
    channel: FakeChannel
    publisher: FakePublisher
    processor: BatchProcessor[EffectsUnitOfWork]
    journal: list[tuple[Any, ...]]
    # For each run of the handler: (event id, deliveries already acknowledged then).
    handled: list[tuple[str, list[str]]]
    behaviour: dict[str, str] = field(default_factory=dict)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Read what is committed, through a connection of our own."""
        with closing(sqlite3.connect(self.path)) as conn:
            return conn.execute(sql).fetchall()

    def effects(self) -> list[str]:
        return [row[0] for row in self.query("SELECT event_id FROM effects ORDER BY seq")]

    def inbox(self) -> list[str]:
        return sorted(row[0] for row in self.query("SELECT event_id FROM inbox"))

    def outcome(self, delivery: FakeDelivery) -> str | None:
        return delivery.outcome

    def copies_of(self, delivery: FakeDelivery) -> list[Published]:
        return [
            p for p in self.publisher.confirmed if p.properties.message_id == delivery.message_id
        ]

    def index(self, *entry: Any) -> int:
        return next(i for i, e in enumerate(self.journal) if e[: len(entry)] == entry)

    async def process(self, *deliveries: FakeDelivery) -> None:
        await self.processor.process(list(deliveries))


def placed(customer_id: str = OK, **overrides: Any) -> CloudEvent:
    data = OrderPlacedV1(order_id=uuid.uuid4(), customer_id=customer_id, items=lines([("A", 1)]))
    return new_event(type=data.event_type, source=ORDER_SOURCE, data=data, **overrides)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[tuple[Database, Path]]:
    path = tmp_path / "machinery.db"
    db = Database(f"sqlite:///{path}", sqlite_synchronous="OFF")
    await db.create_all(metadata)
    try:
        yield db, path
    finally:
        await db.dispose()


@pytest.fixture
def world(database: tuple[Database, Path]) -> World:
    db, path = database
    journal: list[tuple[Any, ...]] = []
    handled: list[tuple[str, list[str]]] = []

    def committed_effects(event_id: str) -> int:
        with closing(sqlite3.connect(path)) as conn:
            query = "SELECT count(*) FROM effects WHERE event_id = ?"
            return int(conn.execute(query, (event_id,)).fetchone()[0])

    channel = FakeChannel(journal, committed_effects)
    publisher = FakePublisher(journal)
    behaviours: dict[str, str] = {}

    def apply(event: Event[OrderPlacedV1], uow: EffectsUnitOfWork) -> None:
        acked = [d.message_id or "" for d in channel.deliveries if d.outcome == "ack"]
        handled.append((event.id, acked))
        behaviour = behaviours.get(event.id, event.data.customer_id)
        if behaviour == RAISES:
            raise RuntimeError(f"handler failed on {event.id}")
        if behaviour == PERMANENT:
            raise PermanentError(f"order {event.data.order_id} can never be applied")
        uow.record(event, parent_id=404 if behaviour == COMMIT_FAILS else None)
        if behaviour == WRITES_THEN_RAISES:
            raise RuntimeError(f"handler failed on {event.id} after writing")

    processor = BatchProcessor(
        Subscription.of(QUEUE, [handles(OrderPlacedV1, one_at_a_time(apply))]),
        service=SERVICE,
        transactions=SqlTransactions(db, EffectsUnitOfWork),
        schemas=SCHEMAS,
        publisher=publisher,
        verifier=keys.TRUSTED,
        retry_delays=SCHEDULE,
    )
    return World(db, path, channel, publisher, processor, journal, handled, behaviours)


# --- acknowledged only after commit ---------------------------------------------------------


async def test_deliveries_are_acknowledged_only_after_their_effects_committed(
    world: World,
) -> None:
    events = [placed() for _ in range(3)]
    deliveries = [world.channel.event(e) for e in events]

    await world.process(*deliveries)

    assert world.handled == [(e.id, []) for e in events]  # nothing acked while applying
    assert [world.outcome(d) for d in deliveries] == ["ack", "ack", "ack"]
    # Each ack went out when its effect was already visible to another connection.
    assert [entry for entry in world.journal if entry[0] == "ack"] == [
        ("ack", e.id, 1) for e in events
    ]
    assert world.effects() == [e.id for e in events]
    assert world.inbox() == sorted(e.id for e in events)
    assert world.processor.processed == 3
    assert world.channel.errors == []


@pytest.mark.parametrize("behaviour", [RAISES, WRITES_THEN_RAISES, COMMIT_FAILS], ids=str)
async def test_a_delivery_whose_transaction_fails_is_acked_only_once_its_retry_copy_is_confirmed(
    world: World, behaviour: str
) -> None:
    event = placed(behaviour)
    delivery = world.channel.event(event)

    await world.process(delivery)

    assert world.effects() == []
    assert world.inbox() == []
    (copy,) = world.copies_of(delivery)
    assert (copy.exchange, copy.routing_key) == ("", QUEUE.retry_queue(SCHEDULE[0]))
    assert world.outcome(delivery) == "ack"
    assert world.index("confirmed", event.id) < world.index("ack", event.id)
    assert world.processor.processed == 0


async def test_an_effect_and_its_inbox_row_are_committed_together_or_not_at_all(
    world: World,
) -> None:
    event = placed()
    world.behaviour[event.id] = WRITES_THEN_RAISES
    first = world.channel.event(event)
    await world.process(first)
    assert (world.effects(), world.inbox()) == ([], [])

    # The retried copy comes back once the cause is gone: it must be applied, not taken
    # for a duplicate by an inbox row the failed attempt left behind.
    del world.behaviour[event.id]
    (copy,) = world.copies_of(first)
    await world.process(world.channel.event(event, headers=copy.headers))

    assert world.effects() == [event.id]
    assert world.inbox() == [event.id]


# --- duplicates -----------------------------------------------------------------------------


async def test_two_deliveries_of_one_event_in_one_batch_are_applied_once_and_both_acked(
    world: World,
) -> None:
    event, other = placed(), placed()
    deliveries = [world.channel.event(event), world.channel.event(other)]
    deliveries.append(world.channel.event(event))

    await world.process(*deliveries)

    assert world.effects() == [event.id, other.id]
    assert world.inbox() == sorted([event.id, other.id])
    assert [handled for handled, _ in world.handled] == [event.id, other.id]
    assert [world.outcome(d) for d in deliveries] == ["ack", "ack", "ack"]
    assert world.processor.processed == 3
    assert world.publisher.confirmed == []


async def test_a_redelivery_in_a_later_batch_is_acked_without_effect(world: World) -> None:
    event = placed()
    first, again = world.channel.event(event), world.channel.event(event)

    await world.process(first)
    await world.process(again)

    assert world.effects() == [event.id]
    assert world.inbox() == [event.id]
    assert [handled for handled, _ in world.handled] == [event.id]
    assert (world.outcome(first), world.outcome(again)) == ("ack", "ack")
    assert world.processor.processed == 2
    assert world.channel.errors == []


# --- moving a failed message elsewhere ------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "destination", "refusal"),
    [
        (lambda: encode(placed(RAISES)), "retry", unconfirmed),
        (lambda: encode(placed(RAISES)), "retry", unroutable),
        (lambda: encode(placed(PERMANENT)), "dead-letter", unconfirmed),
        (lambda: b"{not json", "dead-letter", unroutable),
    ],
    ids=["retry-unconfirmed", "retry-unroutable", "dlq-unconfirmed", "malformed-dlq-unroutable"],
)
async def test_a_message_whose_copy_is_not_confirmed_goes_back_to_the_queue_and_the_rest_are_acked(
    world: World,
    bad: Callable[[], bytes],
    destination: str,
    refusal: Callable[[], BaseException],
) -> None:
    good = [placed(), placed()]
    deliveries = [world.channel.event(good[0])]
    failing = world.channel.deliver(bad(), message_id="bad")
    deliveries += [failing, world.channel.event(good[1])]
    world.publisher.refuse = lambda exchange, key, message: (
        refusal() if message.properties.message_id == "bad" else None
    )

    await world.process(*deliveries)

    (attempt,) = world.publisher.refused
    expected = (
        ("", QUEUE.retry_queue(SCHEDULE[0]))
        if destination == "retry"
        else (QUEUE.dead_letter_exchange, QUEUE.name)
    )
    assert (attempt.exchange, attempt.routing_key) == expected
    assert [world.outcome(d) for d in deliveries] == ["ack", "requeue", "ack"]
    assert ("ack", "bad") not in [entry[:2] for entry in world.journal]
    assert world.effects() == [e.id for e in good]
    assert world.channel.errors == []


@pytest.mark.parametrize(
    ("previous", "delay"),
    [(None, SCHEDULE[0]), (0, SCHEDULE[0]), (1, SCHEDULE[1])],
    ids=["first-delivery", "header-zero", "second-attempt"],
)
async def test_a_retry_copy_goes_to_the_retry_queue_of_its_attempt_with_the_attempt_counted(
    world: World, previous: int | None, delay: float
) -> None:
    event = placed(RAISES)
    headers: dict[str, Any] = {"traceparent": "00-abc-01", h.DELIVERY_COUNT: 2}
    if previous is not None:
        headers[h.RETRY_ATTEMPT] = previous
    delivery = world.channel.event(event, headers=headers)

    await world.process(delivery)

    (copy,) = world.copies_of(delivery)
    assert (copy.exchange, copy.routing_key) == ("", f"{QUEUE.name}.retry.{round(delay * 1000)}ms")
    assert copy.headers[h.RETRY_ATTEMPT] == (previous or 0) + 1
    assert copy.headers["traceparent"] == "00-abc-01"
    assert h.DELIVERY_COUNT not in copy.headers
    assert copy.message.body == delivery.body
    assert copy.properties.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert (copy.properties.message_type, copy.properties.app_id) == (event.type, delivery.app_id)
    assert world.outcome(delivery) == "ack"


async def test_after_the_last_attempt_the_copy_goes_to_the_dead_letter_exchange(
    world: World,
) -> None:
    event = placed(RAISES)
    delivery = world.channel.event(event, headers={h.RETRY_ATTEMPT: len(SCHEDULE)})

    await world.process(delivery)

    (copy,) = world.copies_of(delivery)
    assert (copy.exchange, copy.routing_key) == (QUEUE.dead_letter_exchange, QUEUE.name)
    assert copy.headers[h.ATTEMPTS] == len(SCHEDULE) + 1
    assert copy.headers[h.DEAD_LETTER_REASON] == f"RuntimeError: handler failed on {event.id}"
    assert copy.headers[h.ORIGINAL_QUEUE] == QUEUE.name
    assert copy.headers[h.SERVICE] == SERVICE
    assert world.outcome(delivery) == "ack"
    assert world.index("confirmed", event.id) < world.index("ack", event.id)


async def test_a_permanent_error_skips_the_retries(world: World) -> None:
    event = placed(PERMANENT)
    delivery = world.channel.event(event)

    await world.process(delivery)

    (copy,) = world.copies_of(delivery)
    assert (copy.exchange, copy.routing_key) == (QUEUE.dead_letter_exchange, QUEUE.name)
    assert copy.headers[h.ATTEMPTS] == 1
    assert copy.headers[h.DEAD_LETTER_REASON].startswith("PermanentError: order ")
    assert world.outcome(delivery) == "ack"
    assert world.inbox() == []


def _raw(data: Any, **attributes: Any) -> bytes:
    envelope = {
        "specversion": "1.0",
        "id": "raw-1",
        "source": ORDER_SOURCE,
        "type": OrderPlacedV1.event_type,
        "data": data,
    }
    return orjson.dumps({**envelope, **attributes})


_GOOD_DATA = {
    "order_id": str(uuid.uuid4()),
    "customer_id": OK,
    "items": [{"sku": "A", "quantity": 1}],
}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\x00 not json", "InvalidMessage: body is not valid JSON"),
        (orjson.dumps({"hello": "world"}), "InvalidMessage: not a valid CloudEvent"),
        (orjson.dumps([1, 2]), "InvalidMessage: not a valid CloudEvent"),
        (
            _raw({**_GOOD_DATA, "items": []}),
            "InvalidMessage: OrderPlaced v1 data is invalid: items",
        ),
        (_raw(_GOOD_DATA, dataversion="9"), "InvalidMessage: no schema for OrderPlaced"),
    ],
    ids=["not-json", "not-a-cloudevent", "not-an-object", "schema-invalid", "unknown-version"],
)
async def test_a_malformed_message_is_dead_lettered_at_once_with_the_reason(
    world: World, body: bytes, reason: str
) -> None:
    delivery = world.channel.deliver(body, headers={h.RETRY_ATTEMPT: 0}, message_id="malformed")

    await world.process(delivery)

    (copy,) = world.copies_of(delivery)
    assert (copy.exchange, copy.routing_key) == (QUEUE.dead_letter_exchange, QUEUE.name)
    assert copy.headers[h.DEAD_LETTER_REASON].startswith(reason)
    assert copy.headers[h.ATTEMPTS] == 1
    assert copy.message.body == body
    assert world.outcome(delivery) == "ack"
    assert world.index("confirmed", "malformed") < world.index("ack", "malformed")
    assert world.handled == []
    assert world.inbox() == []


# --- only a trusted producer's events are applied ----------------------------------------


def _forged(kind: str) -> tuple[bytes, dict[str, Any]]:
    """A well-formed OrderPlaced body and the headers an attacker with broker access (but
    no producer's key) can put on it."""
    event = placed()
    body = encode(event)
    genuine = keys.signed(body, "order")
    stranger = EventSigner.generate("order", "not-trusted")
    if kind == "unsigned":
        return body, {}
    if kind == "unknown key":
        return body, stranger.sign(body)
    if kind == "bad signature":
        return body.replace(b'"quantity":1', b'"quantity":9'), genuine
    if kind == "stolen key id":
        return body, {**stranger.sign(body), h.SIGNATURE_KEY: genuine[h.SIGNATURE_KEY]}
    if kind == "producer not allowed":
        return body, keys.signed(body, "inventory")
    if kind == "wrong source":
        evil = encode(new_event(type=event.type, source="/evil", data=OrderPlacedV1(**event.data)))
        return evil, keys.signed(evil, "order")
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("unsigned", "unsigned"),
        ("unknown key", "unknown key"),
        ("bad signature", "bad signature"),
        ("stolen key id", "bad signature"),
        ("producer not allowed", "producer not allowed: 'inventory' may not publish OrderPlaced"),
        ("wrong source", "producer not allowed: 'order' signed an event whose source is '/evil'"),
    ],
)
async def test_an_event_not_proven_to_come_from_its_producer_is_dead_lettered_and_changes_nothing(
    world: World, kind: str, reason: str
) -> None:
    body, headers = _forged(kind)
    delivery = world.channel.deliver(body, headers=headers, signed_by=None)

    await world.process(delivery)

    (copy,) = world.copies_of(delivery)
    assert (copy.exchange, copy.routing_key) == (QUEUE.dead_letter_exchange, QUEUE.name)
    assert copy.headers[h.DEAD_LETTER_REASON].startswith(f"Untrusted: {reason}")
    assert copy.headers[h.ATTEMPTS] == 1, "never retried"
    assert copy.message.body == body, "kept as it came, for the record"
    assert world.outcome(delivery) == "ack"
    assert world.handled == [] and world.effects() == [] and world.inbox() == []
    registry = world.processor.metrics.registry
    # Labelled by type only once the signature holds: an unproven message says nothing.
    label = "OrderPlaced" if reason.startswith("producer") else "unknown"
    labels = {"queue": QUEUE.name, "event_type": label, "reason": "untrusted"}
    assert registry.get_sample_value("messages_dead_lettered_total", labels) == 1


async def test_a_genuine_event_is_still_genuine_after_a_retry_and_a_replay(world: World) -> None:
    event = placed(RAISES)
    first = world.channel.event(event)
    await world.process(first)
    (retry_copy,) = world.copies_of(first)

    # The copy, as the retry queue hands it back (same body, same headers), and this time
    # the handler succeeds: the signature made at the source still holds.
    world.behaviour[event.id] = OK
    again = world.channel.deliver(
        retry_copy.message.body, headers=retry_copy.headers, message_id=event.id, signed_by=None
    )
    await world.process(again)

    assert world.effects() == [event.id]
    assert keys.verify(retry_copy.headers, retry_copy.message.body) == "order"


async def test_an_event_type_without_a_handler_is_acked_without_effect(world: World) -> None:
    data = StockReservedV1(order_id=uuid.uuid4(), items=lines([("A", 1)]))
    other = new_event(type=data.event_type, source=ORDER_SOURCE, data=data)
    delivery = world.channel.event(other)

    await world.process(delivery)

    assert world.outcome(delivery) == "ack"
    assert world.handled == []
    assert world.effects() == []
    assert world.inbox() == []
    assert world.publisher.confirmed == world.publisher.refused == []


async def test_one_bad_message_does_not_keep_the_others_of_its_batch_from_their_effects(
    world: World,
) -> None:
    # (The commit that fails comes last: see the expected failure below.)
    events = [placed(), placed(RAISES), placed(), placed(), placed(COMMIT_FAILS)]
    deliveries = [world.channel.event(e) for e in events]

    await world.process(*deliveries)

    good = [events[0].id, events[2].id, events[3].id]
    assert world.effects() == good
    assert world.inbox() == sorted(good)
    assert {p.properties.message_id for p in world.publisher.confirmed} == {
        events[1].id,
        events[4].id,
    }
    assert all(p.routing_key == QUEUE.retry_queue(SCHEDULE[0]) for p in world.publisher.confirmed)
    assert [world.outcome(d) for d in deliveries] == ["ack"] * 5
    assert world.processor.processed == 3
    assert world.channel.errors == []


async def test_a_commit_that_failed_does_not_fail_the_next_message(world: World) -> None:
    await world.process(world.channel.event(placed(COMMIT_FAILS)))
    event = placed()
    delivery = world.channel.event(event)

    await world.process(delivery)

    assert world.copies_of(delivery) == []
    assert world.effects() == [event.id]


# --- the outbox relay -----------------------------------------------------------------------


async def eventually(check: Callable[[], T | None], *, timeout: float = 5.0) -> T:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"not true within {timeout}s: {check.__doc__ or check}")
        await asyncio.sleep(0.01)


@dataclass
class Relaying:
    relay: OutboxRelay
    publisher: FakePublisher
    commit_events: Callable[[int], Awaitable[list[str]]]
    path: Path

    def rows(self) -> dict[str, tuple[Any, ...]]:
        """id -> (published_at, attempts, last_error), as committed."""
        with closing(sqlite3.connect(self.path)) as conn:
            query = "SELECT id, published_at, attempts, last_error FROM outbox"
            return {row[0]: row[1:] for row in conn.execute(query)}

    def confirmed_ids(self) -> list[str]:
        return [p.properties.message_id or "" for p in self.publisher.confirmed]


@pytest.fixture
async def relaying(database: tuple[Database, Path]) -> AsyncIterator[Relaying]:
    db, path = database
    store = OutboxStore(db, outbox, lease_seconds=0.3)
    publisher = FakePublisher([])
    relay = OutboxRelay(
        store,
        publisher,
        app_id="test-service",
        poll_interval=0.05,
        lease_seconds=0.3,
        mark_delay=0.02,
    )
    transactions = SqlTransactions(
        db,
        EffectsUnitOfWork,
        outbox=store,
        signer=keys.SIGNERS["order"],
        on_committed=relay.committed,
    )

    async def commit_events(n: int) -> list[str]:
        """Commit `n` events to the outbox the way a handler does, and hand them to the
        relay (after the commit)."""

        def work(uow: EffectsUnitOfWork) -> list[str]:
            events = [placed() for _ in range(n)]
            for event in events:
                uow.publish(event, ORDER_EVENTS)
            return [e.id for e in events]

        return await transactions(work)

    task = asyncio.create_task(relay.run())
    try:
        yield Relaying(relay, publisher, commit_events, path)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_confirmed_publish_is_marked_published(relaying: Relaying) -> None:
    ids = await relaying.commit_events(2)

    def published() -> bool:
        rows = relaying.rows()
        return all(rows[i][0] is not None for i in ids)

    await eventually(published)
    assert sorted(relaying.confirmed_ids()) == sorted(ids)
    for sent in relaying.publisher.confirmed:
        assert (sent.exchange, sent.routing_key) == (ORDER_EVENTS, "")
        assert sent.properties.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert sent.properties.app_id == "test-service"
    assert {i: relaying.rows()[i][1:] for i in ids} == {i: (1, None) for i in ids}
    for sent in relaying.publisher.confirmed:
        assert keys.verify(sent.headers, sent.message.body) == "order", "signed when staged"


@pytest.mark.parametrize("refusal", [unconfirmed, unroutable], ids=["unconfirmed", "unroutable"])
async def test_a_refused_publish_stays_in_the_outbox_until_the_broker_takes_it(
    relaying: Relaying, refusal: Callable[[], BaseException]
) -> None:
    relaying.publisher.refuse = lambda exchange, key, message: refusal()
    (event_id,) = await relaying.commit_events(1)

    def refused_twice() -> tuple[Any, ...] | None:
        row = relaying.rows()[event_id]
        return row if row[1] >= 2 else None

    # Refused on the hand-over after commit, then again by the sweep: never marked.
    published_at, _, last_error = await eventually(refused_twice)
    assert published_at is None
    assert "Message delivery failed" in last_error
    assert relaying.confirmed_ids() == []
    assert len(relaying.publisher.refused) >= 2

    relaying.publisher.refuse = None

    def published() -> tuple[Any, ...] | None:
        row = relaying.rows()[event_id]
        return row if row[0] is not None else None

    await eventually(published)
    assert relaying.confirmed_ids() == [event_id]


async def test_rows_committed_while_the_broker_is_away_are_published_when_it_is_back(
    relaying: Relaying,
) -> None:
    relaying.publisher.is_ready = False
    ids = await relaying.commit_events(3)
    await asyncio.sleep(0.2)  # several relay cycles with the broker away
    assert relaying.confirmed_ids() == []
    assert all(row[0] is None for row in relaying.rows().values())
    # The backlog shows on the gauges the outbox-lag alert reads, broker away or not.
    registry = relaying.relay._metrics.registry
    await eventually(lambda: registry.get_sample_value("outbox_pending_rows") == 3 or None)
    assert (registry.get_sample_value("outbox_oldest_unpublished_age_seconds") or 0) > 0

    relaying.publisher.is_ready = True

    def published() -> bool:
        return all(row[0] is not None for row in relaying.rows().values())

    await eventually(published)
    assert sorted(relaying.confirmed_ids()) == sorted(ids)
