"""Upcasters: an older version of an event's data turned into the newer one before any
handler sees it, so a handler knows one shape (the newest) while producers on older
versions still run. Each step goes one version up, with documented defaults for what the
older version did not carry; a chain of them goes as far as a handler needs.

- OrderPlaced v1 -> v2: no prices are known, so every line's `unit_price`, the order's
  `currency` and its `total` are None (v2 allows that: "not known").
"""

from collections.abc import Callable

from shared.contract.envelope import InvalidMessage
from shared.contract.events import (
    ORDER_PLACED,
    EventData,
    OrderPlacedV1,
    OrderPlacedV2,
    PricedOrderLine,
)

Upcaster = Callable[[EventData], EventData]


def _order_placed_v1_to_v2(data: EventData) -> EventData:
    assert isinstance(data, OrderPlacedV1)
    return OrderPlacedV2(
        order_id=data.order_id,
        customer_id=data.customer_id,
        email=data.email,
        items=[PricedOrderLine(sku=line.sku, quantity=line.quantity) for line in data.items],
        currency=None,
        total=None,
    )


# (type, from version) -> the step to the next version
UPCASTERS: dict[tuple[str, str], Upcaster] = {
    (ORDER_PLACED, "1"): _order_placed_v1_to_v2,
}


def upcast(data: EventData, to: type[EventData]) -> EventData:
    """`data` as a `to`, through as many steps as it takes; `InvalidMessage` when there is
    no way (a newer version than the handler knows, say)."""
    while type(data) is not to:
        step = UPCASTERS.get((data.event_type, data.version))
        if step is None or int(data.version) >= int(to.version):
            raise InvalidMessage(
                f"{data.event_type} v{data.version} cannot be read as v{to.version} "
                "by this consumer"
            )
        data = step(data)
    return data
