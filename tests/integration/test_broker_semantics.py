"""What the topology relies on from RabbitMQ, shown on whichever broker the suite runs
against (`make test` on the machine's 3.10, `make test-rabbitmq4` on a 4.0 container): the
work queues dead-letter a message after the same number of deliveries, dead-letter queues
keep what is read from them, retries never spend the delivery limit, and a replayed dead
letter starts afresh. The last tests pin the broker defaults that differ between 3.x and
4.x, which is why the topology states every limit itself (shared.contract.topology)."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage
from sqlalchemy import MetaData

from inventory_service.config import InventorySettings
from shared.contract import events as contracts
from shared.contract import headers as h
from shared.contract.envelope import CloudEvent
from shared.contract.topology import (
    DELIVERY_LIMIT,
    INVENTORY_ORDER_EVENTS,
    ORDER_EVENTS,
    QUORUM,
)
from shared.core.handlers import Event, Subscription, handles, one_at_a_time
from shared.messaging.dead_letters import DeadLetterQueue, Selection
from shared.messaging.declare import OutdatedDeadLetterQueue, declare
from shared.persistence.inbox import inbox_table
from shared.persistence.unit_of_work import SqlUnitOfWork
from shared.process.runtime import Runtime
from tests import factories
from tests.support.broker import BrokerProbe, server_version
from tests.support.polling import eventually

DatabaseUrl = Callable[[str], Awaitable[str]]
WORK = INVENTORY_ORDER_EVENTS


@pytest.fixture
async def connection(broker_url: str) -> AsyncIterator[AbstractConnection]:
    """A connection to the test's vhost, the contract's topology declared in it."""
    connection = await aio_pika.connect(broker_url)
    try:
        await declare(await connection.channel(), retry_delays=(1.0,))
        yield connection
    finally:
        await connection.close()


class Held:
    """A message taken unacknowledged on a channel of its own: `die()` closes the channel
    and the message goes back to its queue, as when a consumer dies holding it."""

    def __init__(self, message: AbstractIncomingMessage, channel: AbstractChannel) -> None:
        self.message = message
        self.channel = channel

    async def die(self) -> None:
        await self.channel.close()


async def take(connection: AbstractConnection, queue: str) -> Held | None:
    """The next message of `queue` (None once it stays empty for two seconds)."""
    channel = await connection.channel()
    found = await channel.get_queue(queue, ensure=False)
    for _ in range(20):
        message = await found.get(no_ack=False, fail=False)
        if message is not None:
            return Held(message, channel)
        await asyncio.sleep(0.1)
    await channel.close()
    return None


def delivery_count(message: AbstractIncomingMessage) -> int:
    """Earlier deliveries, as the broker says. 3.x says 0 on a first basic.get, 4.x says
    nothing: both mean none."""
    value = (message.headers or {}).get(h.DELIVERY_COUNT, 0)
    assert isinstance(value, int)
    return value


async def crash_loop(
    connection: AbstractConnection, queue: str, at_most: int = 10 * DELIVERY_LIMIT
) -> list[tuple[bool, int]]:
    """Take the message and die holding it, until the queue no longer gives it (or
    `at_most` times); each delivery's redelivered flag and count."""
    seen: list[tuple[bool, int]] = []
    while len(seen) < at_most and (held := await take(connection, queue)) is not None:
        seen.append((bool(held.message.redelivered), delivery_count(held.message)))
        await held.die()
    return seen


async def publish_one(connection: AbstractConnection) -> CloudEvent:
    event = factories.order_placed([("SKU-1", 1)])
    channel = await connection.channel()
    exchange = await channel.get_exchange(ORDER_EVENTS, ensure=False)
    await exchange.publish(
        aio_pika.Message(factories.body(event), **factories.properties(event)), ""
    )
    await channel.close()
    return event


async def test_a_message_that_keeps_killing_its_consumer_is_dead_lettered_after_the_same_deliveries_on_every_broker(  # noqa: E501
    connection: AbstractConnection,
) -> None:
    event = await publish_one(connection)
    seen = await crash_loop(connection, WORK.name)

    # First delivery, then one redelivery per death: DELIVERY_LIMIT of them, then the broker
    # dead-letters it. 3.x and 4.x agree once the limit is ours, and both flag redeliveries.
    assert seen == [(False, 0)] + [(True, n) for n in range(1, DELIVERY_LIMIT + 1)]
    dead_letters = DeadLetterQueue(connection, WORK)
    (letter,) = await eventually(dead_letters.peek, lambda found: len(found) == 1)
    assert letter.message_id == event.id
    assert (letter.reason, letter.original_queue) == ("delivery_limit", WORK.name)
    assert letter.attempts == DELIVERY_LIMIT + 1, "its deliveries, not the DLQ's reads"

    # Replayed, it starts afresh: a first delivery again, which one more death does not
    # dead-letter (4.x hands the DLQ's copy over with the old count in x-delivery-count).
    outcome = await dead_letters.replay(Selection(message_ids=frozenset({event.id})))
    assert outcome.done == 1
    replayed = await take(connection, WORK.name)
    assert replayed is not None and replayed.message.message_id == event.id
    assert (replayed.message.redelivered, delivery_count(replayed.message)) == (False, 0)
    await replayed.die()
    again = await take(connection, WORK.name)
    assert again is not None
    assert (again.message.redelivered, delivery_count(again.message)) == (True, 1)
    await again.message.ack()


async def test_dead_letters_stay_however_often_they_are_read(
    connection: AbstractConnection,
) -> None:
    """Each read returns the dead letters to their queue, and each return is a delivery:
    with RabbitMQ 4's default limit a DLQ would drop them at the 21st read (the live page
    reads them every two seconds)."""
    event = factories.order_placed([("SKU-1", 1)])
    channel = await connection.channel()
    dlx = await channel.get_exchange(WORK.dead_letter_exchange, ensure=False)
    await dlx.publish(aio_pika.Message(factories.body(event), **factories.properties(event)), "")
    dead_letters = DeadLetterQueue(connection, WORK)
    await eventually(dead_letters.peek, lambda found: len(found) == 1)

    reads = 3 * DELIVERY_LIMIT
    for _ in range(reads):
        assert [letter.message_id for letter in await dead_letters.peek()] == [event.id]
    (letter,) = await dead_letters.find(event.id)
    assert letter.headers.get(h.DELIVERY_COUNT, 0) > DELIVERY_LIMIT, "every read counted"


async def test_a_dead_letter_queue_made_before_its_delivery_limit_stops_the_start_saying_what_to_do(
    broker_url: str,
) -> None:
    """A queue's arguments cannot change: a DLQ declared by an older version (no limit) makes
    the declaration fail, and the service says which queue and how to remake it."""
    connection = await aio_pika.connect(broker_url)
    try:
        await declare_plain(connection, WORK.dead_letter_queue)
        with pytest.raises(OutdatedDeadLetterQueue, match=WORK.dead_letter_queue) as failed:
            await declare(await connection.channel(), retry_delays=(1.0,), queues=[WORK])
    finally:
        await connection.close()
    assert "inequivalent arg 'x-delivery-limit'" in str(failed.value)
    assert "delete it" in str(failed.value)


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
async def test_retries_go_through_the_retry_queues_and_never_spend_the_delivery_limit(
    broker_url: str, database_url: DatabaseUrl
) -> None:
    """More retries than the delivery limit, all through one retry queue (the same delay
    each time): a failed message is acknowledged once its copy is in the retry queue, so the
    broker's count never moves and we dead-letter it, after exactly our attempts. (3.x
    counts the trips in x-death, 4.x restarts it on each copy we publish: we read neither.)"""
    attempts = DELIVERY_LIMIT + 5
    calls: list[str] = []

    def always_fails(event: Event[contracts.OrderPlacedV1], uow: SqlUnitOfWork) -> None:
        calls.append(event.id)
        raise ConnectionError("downstream unavailable")

    metadata = MetaData()
    inbox = inbox_table(metadata)
    settings = InventorySettings(
        amqp_url=broker_url,
        database_url=await database_url("inventory"),
        retry_delays=(0.01,) * (attempts - 1),
    )
    runtime: Runtime[Any] = Runtime(
        settings,
        metadata,
        unit_of_work=lambda conn: SqlUnitOfWork(conn, inbox),
        subscriptions=[
            Subscription.of(WORK, [handles(contracts.OrderPlacedV1, one_at_a_time(always_fails))])
        ],
    )
    event = factories.order_placed([("SKU-1", 1)])
    await runtime.start()
    try:
        async with BrokerProbe(broker_url) as probe:
            await eventually(runtime.readiness, lambda checks: all(checks.values()))
            await probe.publish(ORDER_EVENTS, factories.body(event), **factories.properties(event))
            (letter,) = await probe.collect(WORK.dead_letter_queue, 1, timeout=60)
    finally:
        await runtime.stop()

    assert calls == [event.id] * attempts
    assert letter.headers[h.ATTEMPTS] == attempts
    assert letter.headers[h.ERROR_TYPE] == "ConnectionError"
    assert h.FIRST_DEATH_REASON not in letter.headers or (
        letter.headers[h.FIRST_DEATH_REASON] != "delivery_limit"
    ), "dead-lettered by the consumer, not by the broker's delivery limit"
    assert not letter.redelivered


async def declare_plain(
    connection: AbstractConnection, name: str, **arguments: Any
) -> aio_pika.abc.AbstractQueue:
    channel = await connection.channel()
    return await channel.declare_queue(name, durable=True, arguments={**QUORUM, **arguments})


async def publish_to(connection: AbstractConnection, queue: str) -> None:
    channel = await connection.channel()
    await channel.default_exchange.publish(
        aio_pika.Message(b"{}", delivery_mode=aio_pika.DeliveryMode.PERSISTENT), queue
    )
    await channel.close()


async def test_a_quorum_queue_that_names_no_delivery_limit_gets_the_brokers_default(
    connection: AbstractConnection,
) -> None:
    """Why every queue of ours names one: without, 3.x redelivers for ever and 4.x drops the
    message (no dead-letter exchange here) after 20 returns."""
    await declare_plain(connection, "no-limit")
    await publish_to(connection, "no-limit")
    seen = await crash_loop(connection, "no-limit", at_most=DELIVERY_LIMIT + 5)
    if server_version(connection)[0] >= 4:
        assert len(seen) == 21, "dropped after RabbitMQ 4's default limit, 20"
    else:
        assert len(seen) == DELIVERY_LIMIT + 5, "RabbitMQ 3 has no default limit"


async def test_a_delivery_limit_of_minus_one_means_opposite_things_to_3_and_4(
    connection: AbstractConnection,
) -> None:
    """Why the dead-letter queues name a large limit rather than -1: to 4.x it is "no
    limit", to 3.x "dead-letter at the first return", for a DLQ a drop at the first read."""
    await declare_plain(connection, "minus-one", **{"x-delivery-limit": -1})
    await publish_to(connection, "minus-one")
    seen = await crash_loop(connection, "minus-one", at_most=5)
    assert len(seen) == (5 if server_version(connection)[0] >= 4 else 1)
