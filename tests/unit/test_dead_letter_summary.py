"""What the dead-letter tooling says of a dead letter, from its headers alone: the same on
RabbitMQ 3.x and 4.x, however often the dead-letter queue was read."""

from types import SimpleNamespace
from typing import Any

import pytest

from shared.contract.topology import DELIVERY_LIMIT
from shared.messaging.dead_letters import DeadLetter


def letter(**headers: Any) -> DeadLetter:
    message = SimpleNamespace(headers=headers, message_id="m-1", type="OrderPlaced", body=b"{}")
    return DeadLetter.of(message)  # type: ignore[arg-type]


def test_ours_says_its_attempts_and_reason() -> None:
    found = letter(**{"x-attempts": 4, "x-dead-letter-reason": "TimeoutError: slow"})
    assert (found.attempts, found.reason) == (4, "TimeoutError: slow")


@pytest.mark.parametrize(
    "delivery_count",
    [
        None,  # RabbitMQ 4, returned by nack: no count on the DLQ's first delivery
        0,  # RabbitMQ 3.10: the count starts again in the DLQ
        DELIVERY_LIMIT + 1,  # RabbitMQ 4, returned by dying consumers: their count carried over
        DELIVERY_LIMIT + 40,  # either, after forty reads of the DLQ
    ],
)
def test_the_brokers_own_says_the_deliveries_its_delivery_limit_allowed(
    delivery_count: int | None,
) -> None:
    headers: dict[str, Any] = {
        "x-first-death-reason": "delivery_limit",
        "x-first-death-queue": "inventory.order-events",
    }
    if delivery_count is not None:
        headers["x-delivery-count"] = delivery_count
    found = letter(**headers)
    assert found.attempts == DELIVERY_LIMIT + 1, "its deliveries: the first and 20 more"
    assert (found.reason, found.original_queue) == ("delivery_limit", "inventory.order-events")


def test_a_dead_letter_of_unknown_origin_has_no_attempts() -> None:
    assert letter(**{"x-delivery-count": 7}).attempts is None
