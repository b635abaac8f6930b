"""The broker topology of the contract: exchanges, work queues and their arguments. Every
service declares all of it at start-up (`shared.messaging.declare`), not only its own
part, so start-up order never matters: a publisher's first event finds its subscribers'
queues already bound.

Per work queue `<q>` there are:
- `<q>.dlx` (fanout) and `<q>.dlq`: dead letters, both ours (with a reason header) and the
  broker's own (delivery limit exceeded);
- `<q>.retry.<ms>ms`: one queue per back-off delay; a message waits there for its TTL and is
  dead-lettered straight back to `<q>` through the default exchange, so a delay never blocks
  the messages behind it in `<q>`.

Who publishes what is in `shared.contract.events` (PRODUCER_OF), where to in EXCHANGE_OF,
and who reads which queue for which events in SUBSCRIBERS: `docs/asyncapi.yaml` is made
from these (`python -m shared.contract.asyncapi`).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.contract.events import ORDER_PLACED, STOCK_REJECTED, STOCK_RESERVED

ORDER_EVENTS = "order.events"
INVENTORY_EVENTS = "inventory.events"

# The back-off before each retry, in seconds, unless a service's RETRY_DELAYS says otherwise:
# one retry queue per delay.
DEFAULT_RETRY_DELAYS = (1.0, 5.0, 30.0)

# A message redelivered this often (each time its consumer died or returned it unacked) is
# dead-lettered by the broker itself: a message that crashes its consumer cannot loop forever.
# A failed message is never returned to its queue (it is acknowledged once its copy is in a
# retry or dead-letter queue), so only a consumer that dies, stops or cannot get a copy
# confirmed while holding it counts here: twenty of those is a crash loop, not bad luck. 20
# is also RabbitMQ 4's default for a quorum queue that names none; we name it, so that 3.x
# (no default: unlimited) and 4.x dead-letter after the same 21 deliveries.
DELIVERY_LIMIT = 20
# A dead-letter queue is read by returning what was read (the admin API, the CLI, the audit
# page every few seconds), and every return counts as a delivery. RabbitMQ 4 drops a message
# past its queue's delivery limit, 20 by default, when, as here, the queue has no
# dead-letter exchange: dead letters would vanish after twenty reads. So a DLQ names the
# largest limit a 32-bit AMQP integer holds (136 years of one read every two seconds). Not
# -1: RabbitMQ 4 takes it as "no limit", 3.x as "dead-letter at the first return", which
# for a DLQ is dropping a dead letter the first time anyone reads it.
DEAD_LETTER_DELIVERY_LIMIT = 2**31 - 1

# Every quorum queue is replicated on this many nodes of a cluster, chosen when it is
# declared (a cluster of three keeps every queue through the loss of any one node); a broker
# of one node makes one replica. Not a limit on the cluster: RabbitMQ adds no member to an
# existing queue when a node joins (`rabbitmq-queues grow` does; docker/rabbitmq/cluster.sh).
QUORUM_GROUP_SIZE = 3
QUORUM: dict[str, Any] = {
    "x-queue-type": "quorum",
    "x-quorum-initial-group-size": QUORUM_GROUP_SIZE,
}
_AT_LEAST_ONCE_DEAD_LETTERING: dict[str, Any] = {
    "x-dead-letter-strategy": "at-least-once",
    "x-overflow": "reject-publish",
}


@dataclass(frozen=True)
class QueueSpec:
    """A durable quorum work queue bound to a fanout exchange, with its dead-letter and
    retry queues. A new subscriber names its own: `QueueSpec("audit.order-events",
    ORDER_EVENTS)`."""

    name: str
    exchange: str

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.name}.dlx"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.name}.dlq"

    def retry_queue(self, delay_seconds: float) -> str:
        return f"{self.name}.retry.{milliseconds(delay_seconds)}ms"

    def arguments(self) -> dict[str, Any]:
        return {
            **QUORUM,
            **_AT_LEAST_ONCE_DEAD_LETTERING,
            "x-dead-letter-exchange": self.dead_letter_exchange,
            "x-delivery-limit": DELIVERY_LIMIT,
        }

    def dead_letter_arguments(self) -> dict[str, Any]:
        return {**QUORUM, "x-delivery-limit": DEAD_LETTER_DELIVERY_LIMIT}

    def retry_arguments(self, delay_seconds: float) -> dict[str, Any]:
        """Nothing consumes a retry queue (its messages expire back to the work queue), so
        no delivery limit, the broker's default or ours, ever applies to it."""
        return {
            **QUORUM,
            **_AT_LEAST_ONCE_DEAD_LETTERING,
            "x-message-ttl": milliseconds(delay_seconds),
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": self.name,
        }


INVENTORY_ORDER_EVENTS = QueueSpec("inventory.order-events", ORDER_EVENTS)
NOTIFICATION_ORDER_EVENTS = QueueSpec("notification.order-events", ORDER_EVENTS)
ORDER_INVENTORY_EVENTS = QueueSpec("order.inventory-events", INVENTORY_EVENTS)
NOTIFICATION_INVENTORY_EVENTS = QueueSpec("notification.inventory-events", INVENTORY_EVENTS)

EXCHANGES = (ORDER_EVENTS, INVENTORY_EVENTS)
# The exchange each event type is published to (by the producer PRODUCER_OF names).
EXCHANGE_OF = {
    ORDER_PLACED: ORDER_EVENTS,
    STOCK_RESERVED: INVENTORY_EVENTS,
    STOCK_REJECTED: INVENTORY_EVENTS,
}
QUEUES = (
    INVENTORY_ORDER_EVENTS,
    NOTIFICATION_ORDER_EVENTS,
    ORDER_INVENTORY_EVENTS,
    NOTIFICATION_INVENTORY_EVENTS,
)


@dataclass(frozen=True)
class Subscriber:
    """The service reading a work queue, and what it takes from it: for each event type,
    the data version its handler is written for. Older versions are upcast to it first
    (`shared.contract.upcasting`); a newer one is dead-lettered. A unit test holds each
    service's subscriptions (`Subscription.of(queue, HANDLERS)`) to this."""

    service: str
    queue: QueueSpec
    handles: Mapping[str, str]  # event type -> data version of its handler


SUBSCRIBERS = (
    Subscriber("inventory", INVENTORY_ORDER_EVENTS, {ORDER_PLACED: "2"}),
    Subscriber("notification", NOTIFICATION_ORDER_EVENTS, {ORDER_PLACED: "2"}),
    Subscriber("order", ORDER_INVENTORY_EVENTS, {STOCK_RESERVED: "1", STOCK_REJECTED: "1"}),
    Subscriber(
        "notification", NOTIFICATION_INVENTORY_EVENTS, {STOCK_RESERVED: "1", STOCK_REJECTED: "1"}
    ),
)


def milliseconds(seconds: float) -> int:
    return round(seconds * 1000)


# The event log: a stream bound to every exchange, so it holds every event the system
# publishes, in order, for as long as its retention keeps it. Unlike a work queue, reading
# it removes nothing: each reader keeps its own offset and may start again from the first.
AUDIT_EVENTS = "audit.events"
# Retention unless settings say otherwise (AUDIT_STREAM_MAX_AGE, AUDIT_STREAM_MAX_LENGTH_BYTES):
# whichever is reached first drops the oldest segments.
DEFAULT_STREAM_MAX_AGE = "7D"
DEFAULT_STREAM_MAX_LENGTH_BYTES = 1_000_000_000


@dataclass(frozen=True)
class StreamSpec:
    """A durable stream (`x-queue-type: stream`) bound to fanout exchanges. Its arguments are
    part of the topology: every declaration must give the same ones, or the broker refuses
    it (PRECONDITION_FAILED)."""

    name: str
    exchanges: tuple[str, ...]
    max_age: str = DEFAULT_STREAM_MAX_AGE  # a number and a unit: Y, M, D, h, m or s
    max_length_bytes: int = DEFAULT_STREAM_MAX_LENGTH_BYTES

    def arguments(self) -> dict[str, Any]:
        return {
            "x-queue-type": "stream",
            "x-max-age": self.max_age,
            "x-max-length-bytes": self.max_length_bytes,
        }


AUDIT_STREAM = StreamSpec(AUDIT_EVENTS, EXCHANGES)
STREAMS = (AUDIT_STREAM,)
# Who reads each stream (each reader keeps its own offset; reading removes nothing).
STREAM_READERS = {AUDIT_EVENTS: ("audit",)}
