"""The work queues' consumer takes its deliveries straight from the AMQP channel (aiormq's
delivered messages, as `AmqpDelivery`), not as aio-pika's incoming messages, and goes back
to doing so after the broker drops its connection and aio-pika registers the consumer
again; every delivery is processed once and acknowledged. (The processor here only records
and acknowledges: what the consumer hands over is the subject.)"""

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from shared.contract.topology import QueueSpec
from shared.messaging.consumer import Consumer
from shared.messaging.delivery import AmqpDelivery
from shared.messaging.processing import settle
from tests.support.broker import close_connections, ready_and_unacked
from tests.support.polling import eventually

QUEUE = QueueSpec("consumer-test.events", "consumer-test")
SENT_AT = datetime(2026, 11, 29, 9, 0, 0, tzinfo=UTC)
PROPERTIES = {
    "content_type": "application/cloudevents+json",
    "content_encoding": "utf-8",
    "correlation_id": "order-1",
    "reply_to": "nobody",
    "type": "com.example.test",
    "app_id": "test-producer",
    "timestamp": SENT_AT,
}


class Recording:
    """Stands in for the `BatchProcessor`: records each batch and acknowledges it."""

    def __init__(self) -> None:
        self.queue = QUEUE
        self.processed = 0
        self.seen: list[AbstractIncomingMessage | AmqpDelivery] = []

    async def process(self, deliveries: Sequence[Any]) -> None:
        self.seen.extend(deliveries)
        self.processed += len(deliveries)
        await settle(deliveries[-1], ack=True, multiple=True)


async def publish(url: str, *bodies: bytes) -> None:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        for body in bodies:
            message = aio_pika.Message(
                body, message_id=body.decode(), headers={"n": body.decode()}, **PROPERTIES
            )
            await channel.default_exchange.publish(message, QUEUE.name)
    finally:
        await connection.close()


async def test_deliveries_come_straight_from_the_channel_also_after_a_reconnection(
    broker_url: str,
) -> None:
    recording = Recording()
    consumer = Consumer(recording, prefetch_count=10)  # type: ignore[arg-type]
    connection = await aio_pika.connect_robust(broker_url, reconnect_interval=0.2)
    try:
        await consumer.start(connection)
        await publish(broker_url, b"1", b"2", b"3")
        await eventually(lambda: len(recording.seen), lambda n: n == 3, what="3 delivered")
        first = recording.seen[:3]
        assert all(isinstance(d, AmqpDelivery) for d in first), first
        assert [d.body for d in first] == [b"1", b"2", b"3"]
        assert [d.message_id for d in first] == ["1", "2", "3"]
        assert [dict(d.headers) for d in first] == [{"n": "1"}, {"n": "2"}, {"n": "3"}]
        for delivery in first:
            read = {name: getattr(delivery, name) for name in PROPERTIES}
            assert read == PROPERTIES

        await asyncio.to_thread(close_connections, broker_url, "test: drop the consumer")
        # Waits in the queue until aio-pika has reconnected and registered the consumer
        # again; it comes through aio-pika, which hands the consumer back.
        await publish(broker_url, b"4")
        await eventually(lambda: len(recording.seen), lambda n: n == 4, what="4 delivered")
        await publish(broker_url, b"5", b"6", b"7")
        await eventually(lambda: len(recording.seen), lambda n: n == 7, what="7 delivered")

        through_aio_pika = recording.seen[3]
        assert isinstance(through_aio_pika, AbstractIncomingMessage), "registered again"
        after = recording.seen[4:]
        assert all(isinstance(d, AmqpDelivery) for d in after), after
        assert [d.body for d in after] == [b"5", b"6", b"7"]
        assert isinstance(after[0], AmqpDelivery) and isinstance(first[0], AmqpDelivery)
        assert after[0].channel is not first[0].channel, "a new channel: it did reconnect"
        # What the processor reads of a delivery is what aio-pika's message says.
        for name in (*PROPERTIES, "priority"):
            assert getattr(after[0], name) == getattr(through_aio_pika, name), name
        assert consumer.is_running
        await eventually(
            lambda: ready_and_unacked(broker_url, QUEUE.name),
            lambda counts: counts == (0, 0),
            what="every delivery acknowledged",
        )
    finally:
        await consumer.stop(grace_seconds=5)
        await connection.close()
