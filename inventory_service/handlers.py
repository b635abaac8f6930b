"""Inventory use cases: reserve stock for a placed order (all lines or none)."""

import logging

from inventory_service.adapters.repository import StockRepository
from inventory_service.domain.model import Line, Reserved, reserve
from shared import contracts
from shared.consumer import Event
from shared.envelope import new_event
from shared.topology import INVENTORY_EVENTS
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)


async def on_order_placed(uow: UnitOfWork, event: Event[contracts.OrderPlacedV1]) -> None:
    order = event.data
    repo = StockRepository(uow.conn)
    lines = [Line(item.sku, item.quantity) for item in order.items]
    levels = await repo.lock(line.sku for line in lines)
    # Checked after taking the locks: a concurrent copy of this order (another event id
    # for the same order) has either committed its reservation by now, or waits for ours.
    if await repo.reservation_status(order.order_id) is not None:
        log.info("order %s already has a reservation; event %s ignored", order.order_id, event.id)
        return
    outcome = reserve(levels, lines)
    items = [contracts.OrderLine(sku=line.sku, quantity=line.quantity) for line in outcome.lines]
    if isinstance(outcome, Reserved):
        await repo.save(outcome.levels)
        await repo.record(order.order_id, "RESERVED", outcome.lines, event.id)
        data: contracts.EventData = contracts.StockReservedV1(order_id=order.order_id, items=items)
        event_type = contracts.STOCK_RESERVED
    else:
        await repo.record(order.order_id, "REJECTED", outcome.lines, event.id, outcome.reason)
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
