"""Inventory use cases: reserve stock for placed orders (each order: all lines or none),
and set a sku's level."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from inventory_service.domain.model import Line, Reservation, Reserved, StockLevel, reserve
from inventory_service.unit_of_work import InventoryUnitOfWork
from shared.contract.events import (
    INVENTORY_SOURCE,
    MAX_QUANTITY,
    OrderLine,
    OrderPlacedV2,
    StockRejectedV1,
    StockReservedV1,
    event_of,
)
from shared.contract.topology import INVENTORY_EVENTS
from shared.core.handlers import Event, Handler, handles

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SetStock:
    sku: str
    available: int


def reserve_stock(events: Sequence[Event[OrderPlacedV2]], uow: InventoryUnitOfWork) -> None:
    """Apply a run of OrderPlaced events in order, as if one at a time, with a few
    statements for the whole run: lock the stock rows the run touches (in sku order),
    decide each order against the levels left by the ones before it, write the changes."""
    orders = [event.data for event in events]
    levels = uow.stock.lock({item.sku for order in orders for item in order.items})
    # Read after taking the locks: a concurrent copy of one of these orders (another event
    # id for the same order) has either committed its reservation by now, or waits for us.
    reserved_already = uow.reservations.existing([o.order_id for o in orders])
    changed: dict[str, StockLevel] = {}
    reservations = []
    for event, order in zip(events, orders, strict=True):
        if order.order_id in reserved_already:
            log.info(
                "order %s already has a reservation; event %s ignored", order.order_id, event.id
            )
            continue
        reserved_already.add(order.order_id)
        outcome = reserve(
            levels,
            [Line(item.sku, item.quantity) for item in order.items],
            max_per_sku=MAX_QUANTITY,
        )
        items = [OrderLine(sku=line.sku, quantity=line.quantity) for line in outcome.lines]
        data: StockReservedV1 | StockRejectedV1
        if isinstance(outcome, Reserved):
            for level in outcome.levels:
                levels[level.sku] = changed[level.sku] = level
            reservations.append(Reservation(order.order_id, "RESERVED", outcome.lines, event.id))
            data = StockReservedV1(order_id=order.order_id, items=items)
        else:
            reservations.append(
                Reservation(order.order_id, "REJECTED", outcome.lines, event.id, outcome.reason)
            )
            data = StockRejectedV1(order_id=order.order_id, items=items, reason=outcome.reason)
        uow.publish(event_of(data, source=INVENTORY_SOURCE, cause=event.envelope), INVENTORY_EVENTS)
    uow.stock.save(changed.values())
    uow.reservations.add(reservations)


def set_stock(command: SetStock, uow: InventoryUnitOfWork) -> StockLevel:
    return uow.stock.set_available(command.sku, command.available)


HANDLERS: list[Handler[InventoryUnitOfWork, Any]] = [handles(OrderPlacedV2, reserve_stock)]
