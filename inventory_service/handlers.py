"""Inventory use cases: reserve stock for placed orders (each order: all lines or none)."""

import logging
from collections.abc import Sequence
from typing import Any

from inventory_service.adapters.repository import Reservation, StockRepository
from inventory_service.domain.model import Line, Reserved, reserve
from shared import contracts
from shared.consumer import BatchHandler, Event
from shared.envelope import new_event
from shared.topology import INVENTORY_EVENTS
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)


async def reserve_stock(uow: UnitOfWork, events: Sequence[Event[Any]]) -> None:
    """Apply a run of OrderPlaced events in order, as if one at a time, with a few
    statements for the whole run: lock the stock rows the run touches (in sku order),
    decide each order against the levels left by the ones before it, write the changes."""
    repo = StockRepository(uow.conn)
    orders: list[contracts.OrderPlacedV1] = [event.data for event in events]
    levels = await repo.lock({item.sku for order in orders for item in order.items})
    # Read after taking the locks: a concurrent copy of one of these orders (another event
    # id for the same order) has either committed its reservation by now, or waits for us.
    reserved_already = await repo.orders_with_reservations([o.order_id for o in orders])
    changed = {}
    reservations = []
    for event, order in zip(events, orders, strict=True):
        if order.order_id in reserved_already:
            log.info(
                "order %s already has a reservation; event %s ignored", order.order_id, event.id
            )
            continue
        reserved_already.add(order.order_id)
        outcome = reserve(levels, [Line(item.sku, item.quantity) for item in order.items])
        items = [
            contracts.OrderLine(sku=line.sku, quantity=line.quantity) for line in outcome.lines
        ]
        data: contracts.EventData
        if isinstance(outcome, Reserved):
            for level in outcome.levels:
                levels[level.sku] = changed[level.sku] = level
            reservations.append(Reservation(order.order_id, "RESERVED", outcome.lines, event.id))
            data = contracts.StockReservedV1(order_id=order.order_id, items=items)
            event_type = contracts.STOCK_RESERVED
        else:
            reservations.append(
                Reservation(order.order_id, "REJECTED", outcome.lines, event.id, outcome.reason)
            )
            data = contracts.StockRejectedV1(
                order_id=order.order_id, items=items, reason=outcome.reason
            )
            event_type = contracts.STOCK_REJECTED
        uow.publish(
            new_event(
                type=event_type, source=contracts.INVENTORY_SOURCE, data=data, cause=event.envelope
            ),
            INVENTORY_EVENTS,
        )
    await repo.save(changed.values())
    await repo.record(reservations)


on_order_placed = BatchHandler(reserve_stock)
