"""Events as a foreign producer would send them, built with the project's own contract."""

import uuid
from typing import Any

import orjson

from shared.contract import events as contracts
from shared.contract.envelope import CloudEvent, encode, new_event


def order_placed(
    items: list[tuple[str, int]],
    *,
    order_id: uuid.UUID | None = None,
    customer_id: str = "customer-1",
    email: str | None = "buyer@example.com",
) -> CloudEvent:
    return new_event(
        type=contracts.ORDER_PLACED,
        source="/tests",
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
        source="/tests",
        data=contracts.StockReservedV1(
            order_id=order_id,
            items=[contracts.OrderLine(sku=sku, quantity=qty) for sku, qty in items],
        ),
    )


def raw_event(event_type: str, data: Any, *, dataversion: str = "1") -> bytes:
    """A structured CloudEvent with arbitrary (possibly invalid) data."""
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "/tests",
            "type": event_type,
            "dataversion": dataversion,
            "data": data,
        }
    )


def properties(event: CloudEvent) -> dict[str, Any]:
    return {
        "content_type": "application/cloudevents+json",
        "message_id": event.id,
        "type": event.type,
        "correlation_id": event.correlation_id,
    }


def body(event: CloudEvent) -> bytes:
    return encode(event)
