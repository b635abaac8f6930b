"""Orders and OrderPlaced events as the benchmark sends them, built with the contract."""

import uuid
from typing import Any

import aio_pika

from shared.contract import events as contracts
from shared.contract.envelope import new_event
from shared.contract.outbound import OutboundMessage
from shared.messaging.broker import amqp_message
from tests.support import keys


def sku(n: int) -> str:
    return f"BENCH-{n:03d}"


def order_body(n: int, skus: int) -> dict[str, Any]:
    """The body of POST /orders number `n`: one line, cycling through `skus` skus."""
    return {
        "customer_id": f"bench-{n}",
        "email": f"bench{n}@example.com",
        "items": [{"sku": sku(n % skus), "quantity": 1}],
    }


def order_placed(n: int, skus: int) -> aio_pika.Message:
    """What the order service would publish for order `n`: a persistent CloudEvent, signed
    with the run's order key (the services under test trust it: tests.support.keys)."""
    body = order_body(n, skus)
    event = new_event(
        type=contracts.ORDER_PLACED,
        source=contracts.ORDER_SOURCE,
        data=contracts.OrderPlacedV1(
            order_id=uuid.uuid4(),
            customer_id=body["customer_id"],
            email=body["email"],
            items=[contracts.OrderLine(**line) for line in body["items"]],
        ),
    )
    message = OutboundMessage.of(event, "")
    return amqp_message(
        message.with_headers(keys.signed(message.body, "order")), app_id="benchmarks"
    )
