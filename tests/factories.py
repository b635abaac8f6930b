"""Events as a genuine producer sends them: built with the project's own contract, from the
producer's source, signed with the test run's key of that producer (tests.support.keys).
A test that plays an attacker builds its message another way."""

import uuid
from typing import Any

import orjson

from shared.contract import events as contracts
from shared.contract.envelope import CloudEvent, encode, new_event
from tests.support import keys


def order_placed(
    items: list[tuple[str, int]],
    *,
    order_id: uuid.UUID | None = None,
    customer_id: str = "customer-1",
    email: str | None = "buyer@example.com",
) -> CloudEvent:
    return new_event(
        type=contracts.ORDER_PLACED,
        source=contracts.ORDER_SOURCE,
        data=contracts.OrderPlacedV1(
            order_id=order_id or uuid.uuid4(),
            customer_id=customer_id,
            email=email,
            items=[contracts.OrderLine(sku=sku, quantity=qty) for sku, qty in items],
        ),
    )


def stock_reserved(order_id: uuid.UUID, items: list[tuple[str, int]]) -> CloudEvent:
    return new_event(
        type=contracts.STOCK_RESERVED,
        source=contracts.INVENTORY_SOURCE,
        data=contracts.StockReservedV1(
            order_id=order_id,
            items=[contracts.OrderLine(sku=sku, quantity=qty) for sku, qty in items],
        ),
    )


def raw_event(event_type: str, data: Any, *, dataversion: str = "1") -> bytes:
    """A structured CloudEvent with arbitrary (possibly invalid) data, from the source of
    the producer of `event_type`."""
    producer = keys.producer_of(event_type)
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": contracts.SOURCE_OF[producer],
            "type": event_type,
            "dataversion": dataversion,
            "data": data,
        }
    )


def properties(event: CloudEvent, **headers: Any) -> dict[str, Any]:
    """AMQP properties of `event` as its producer publishes it: signed, plus `headers`."""
    return {
        "content_type": "application/cloudevents+json",
        "message_id": event.id,
        "type": event.type,
        "correlation_id": event.correlation_id,
        "headers": {**keys.signed(body(event), keys.producer_of(event.type)), **headers},
    }


def signed_by(producer: str, raw: bytes, **headers: Any) -> dict[str, Any]:
    """AMQP headers of a raw body signed by `producer` (a trusted one sending junk)."""
    return {"headers": {**keys.signed(raw, producer), **headers}}


def body(event: CloudEvent) -> bytes:
    return encode(event)
