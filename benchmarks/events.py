"""Orders and OrderPlaced events as the benchmark sends them, built with the contract."""

import uuid
from decimal import Decimal
from typing import Any

import aio_pika

from shared.contract import events as contracts
from shared.contract.events import event_of
from shared.contract.outbound import OutboundMessage
from shared.messaging.broker import amqp_message
from shared.messaging.delivery import Outgoing
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
    event = event_of(
        contracts.OrderPlacedV2(
            order_id=uuid.uuid4(),
            customer_id=body["customer_id"],
            email=body["email"],
            items=[contracts.PricedOrderLine(**line, unit_price="9.99") for line in body["items"]],
            currency="EUR",
            total=_total(body["items"]),
        ),
        source=contracts.ORDER_SOURCE,
    )
    message = OutboundMessage.of(event, "")
    return _aio_pika_message(
        amqp_message(message.with_headers(keys.signed(message.body, "order")), app_id="benchmarks")
    )


def _total(items: list[dict[str, Any]]) -> str:
    return format(sum(Decimal("9.99") * line["quantity"] for line in items), "f")


def stock_reserved() -> aio_pika.Message:
    """What the inventory service publishes for a reserved order: a signed CloudEvent."""
    event = event_of(
        contracts.StockReservedV1(
            order_id=uuid.uuid4(), items=[contracts.OrderLine(sku=sku(0), quantity=1)]
        ),
        source=contracts.INVENTORY_SOURCE,
    )
    message = OutboundMessage.of(event, "")
    return _aio_pika_message(
        amqp_message(
            message.with_headers(keys.signed(message.body, "inventory")), app_id="benchmarks"
        )
    )


def _aio_pika_message(message: Outgoing) -> aio_pika.Message:
    """The message as a bare aio-pika program builds it (the floor publishes these through
    aio-pika's exchange; the services publish pamqp's properties straight on the channel)."""
    properties = message.properties
    return aio_pika.Message(
        message.body,
        headers=properties.headers,
        content_type=properties.content_type,
        message_id=properties.message_id,
        type=properties.message_type,
        correlation_id=properties.correlation_id,
        timestamp=properties.timestamp,
        app_id=properties.app_id,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )
