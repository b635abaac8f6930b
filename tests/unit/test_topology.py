from typing import Any, ClassVar

import aio_pika
import pytest
from pydantic import ValidationError

from shared.contract.topology import (
    AUDIT_STREAM,
    DEAD_LETTER_DELIVERY_LIMIT,
    DELIVERY_LIMIT,
    INVENTORY_EVENTS,
    ORDER_EVENTS,
    QUEUES,
    STREAMS,
    QueueSpec,
)
from shared.messaging.declare import declare
from shared.process.settings import ServiceSettings

WORK = QueueSpec("inventory.order-events", ORDER_EVENTS)


def test_dead_letter_names_derive_from_the_work_queue() -> None:
    assert WORK.dead_letter_exchange == "inventory.order-events.dlx"
    assert WORK.dead_letter_queue == "inventory.order-events.dlq"


@pytest.mark.parametrize(
    ("delay", "name"),
    [
        (0.5, "inventory.order-events.retry.500ms"),
        (2, "inventory.order-events.retry.2000ms"),
        (10.0, "inventory.order-events.retry.10000ms"),
        (0.25, "inventory.order-events.retry.250ms"),
    ],
)
def test_retry_queues_are_named_after_their_delay_in_milliseconds(delay: float, name: str) -> None:
    assert WORK.retry_queue(delay) == name


def test_a_work_queue_is_quorum_and_dead_letters_at_least_once_to_its_dlx() -> None:
    assert WORK.arguments() == {
        "x-queue-type": "quorum",
        "x-quorum-initial-group-size": 3,
        "x-dead-letter-exchange": "inventory.order-events.dlx",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
        "x-delivery-limit": DELIVERY_LIMIT,
    }


def test_the_delivery_limits_are_positive_bounds() -> None:
    # Positive on purpose: -1 is "unlimited" to RabbitMQ 4 but "dead-letter at the first
    # return" to 3.x, and 0 is the latter to both (tests/integration/test_broker_semantics.py).
    for limit in (DELIVERY_LIMIT, DEAD_LETTER_DELIVERY_LIMIT):
        assert isinstance(limit, int)
        assert 0 < limit <= 2**31 - 1, "a signed 32-bit AMQP integer"
    assert DELIVERY_LIMIT == 20, "RabbitMQ 4's default, stated so that 3.x does the same"


def test_a_dead_letter_queue_is_quorum_and_keeps_what_is_read_from_it() -> None:
    # No dead-letter exchange of its own, and a limit no reading of it will ever reach: on
    # RabbitMQ 4 a queue without one drops a message returned 20 times (its default).
    assert WORK.dead_letter_arguments() == {
        "x-queue-type": "quorum",
        "x-quorum-initial-group-size": 3,
        "x-delivery-limit": 2_147_483_647,
    }


def test_a_retry_queue_holds_for_its_ttl_then_dead_letters_back_to_the_work_queue() -> None:
    assert WORK.retry_arguments(2.5) == {
        "x-queue-type": "quorum",
        "x-quorum-initial-group-size": 3,
        "x-message-ttl": 2500,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": "inventory.order-events",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def test_the_contract_queues_are_bound_to_their_exchanges() -> None:
    assert {spec.name: spec.exchange for spec in QUEUES} == {
        "inventory.order-events": ORDER_EVENTS,
        "notification.order-events": ORDER_EVENTS,
        "order.inventory-events": INVENTORY_EVENTS,
        "notification.inventory-events": INVENTORY_EVENTS,
    }
    assert ORDER_EVENTS == "order.events"
    assert INVENTORY_EVENTS == "inventory.events"


class RecordingChannel:
    """Stands in for an aio-pika channel: records what `declare` asks the broker for."""

    def __init__(self) -> None:
        self.exchanges: dict[str, dict[str, Any]] = {}
        self.queues: dict[str, dict[str, Any]] = {}
        self.bindings: set[tuple[str, str]] = set()

    async def declare_exchange(self, name: str, type: Any, **options: Any) -> str:
        self.exchanges[name] = {"type": type, **options}
        return name

    async def declare_queue(self, name: str, **options: Any) -> "RecordingQueue":
        self.queues[name] = options
        return RecordingQueue(self, name)


class RecordingQueue:
    def __init__(self, channel: RecordingChannel, name: str) -> None:
        self.channel = channel
        self.name = name

    async def bind(self, exchange: str) -> None:
        self.channel.bindings.add((exchange, self.name))


@pytest.fixture
async def declared() -> RecordingChannel:
    channel = RecordingChannel()
    await declare(channel, retry_delays=(0.5, 2))  # type: ignore[arg-type]
    return channel


async def test_declare_binds_each_contract_queue_to_its_exchange(
    declared: RecordingChannel,
) -> None:
    assert {
        ("order.events", "inventory.order-events"),
        ("order.events", "notification.order-events"),
        ("inventory.events", "order.inventory-events"),
        ("inventory.events", "notification.inventory-events"),
    } <= declared.bindings


async def test_declare_binds_each_dead_letter_queue_to_its_dead_letter_exchange(
    declared: RecordingChannel,
) -> None:
    for spec in QUEUES:
        assert (spec.dead_letter_exchange, spec.dead_letter_queue) in declared.bindings


async def test_declare_binds_nothing_else(declared: RecordingChannel) -> None:
    assert len(declared.bindings) == 2 * len(QUEUES) + 2  # and the stream, to both exchanges


async def test_the_event_log_is_a_stream_bound_to_every_exchange_with_its_retention(
    declared: RecordingChannel,
) -> None:
    assert AUDIT_STREAM.name == "audit.events"
    assert {("order.events", "audit.events"), ("inventory.events", "audit.events")} <= (
        declared.bindings
    )
    assert declared.queues["audit.events"] == {
        "durable": True,
        "arguments": {
            "x-queue-type": "stream",
            "x-max-age": "7D",
            "x-max-length-bytes": 1_000_000_000,
        },
    }


def test_the_stream_retention_comes_from_settings() -> None:
    class Settings(ServiceSettings):
        service_name: ClassVar[str] = "any"
        default_port: ClassVar[int] = 1

    settings = Settings(audit_stream_max_age="36h", audit_stream_max_length_bytes=5_000_000)
    (stream,) = settings.streams
    assert stream.arguments() == {
        "x-queue-type": "stream",
        "x-max-age": "36h",
        "x-max-length-bytes": 5_000_000,
    }
    assert stream.exchanges == ("order.events", "inventory.events")
    with pytest.raises(ValidationError):
        Settings(audit_stream_max_age="7 days")


async def test_declare_makes_every_exchange_a_durable_fanout(declared: RecordingChannel) -> None:
    expected = {"order.events", "inventory.events"} | {s.dead_letter_exchange for s in QUEUES}

    assert set(declared.exchanges) == expected
    for options in declared.exchanges.values():
        assert options == {"type": aio_pika.ExchangeType.FANOUT, "durable": True}


async def test_declare_makes_work_retry_and_dead_letter_queues_durable(
    declared: RecordingChannel,
) -> None:
    for spec in QUEUES:
        assert declared.queues[spec.name] == {"durable": True, "arguments": spec.arguments()}
        assert declared.queues[spec.dead_letter_queue] == {
            "durable": True,
            "arguments": spec.dead_letter_arguments(),
        }
        for delay in (0.5, 2):
            assert declared.queues[spec.retry_queue(delay)] == {
                "durable": True,
                "arguments": spec.retry_arguments(delay),
            }
    assert len(declared.queues) == len(QUEUES) * 4 + len(STREAMS)
