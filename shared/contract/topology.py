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
"""

from dataclasses import dataclass
from typing import Any

ORDER_EVENTS = "order.events"
INVENTORY_EVENTS = "inventory.events"

# A message redelivered this often (each time its consumer died or returned it unacked) is
# dead-lettered by the broker itself: a message that crashes its consumer cannot loop forever.
DELIVERY_LIMIT = 20

QUORUM: dict[str, Any] = {"x-queue-type": "quorum"}
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

    def retry_arguments(self, delay_seconds: float) -> dict[str, Any]:
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
QUEUES = (
    INVENTORY_ORDER_EVENTS,
    NOTIFICATION_ORDER_EVENTS,
    ORDER_INVENTORY_EVENTS,
    NOTIFICATION_INVENTORY_EVENTS,
)


def milliseconds(seconds: float) -> int:
    return round(seconds * 1000)
