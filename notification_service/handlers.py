"""Notification use cases: one notification per (order, kind), whatever the redeliveries."""

from collections.abc import Callable, Sequence
from typing import Any

from notification_service.adapters.repository import NotificationRepository
from notification_service.domain.model import Kind
from shared import contracts
from shared.consumer import BatchHandler, Event, Handler
from shared.uow import UnitOfWork


def build_handlers(on_recorded: Callable[[], None]) -> dict[str, Handler]:
    """Handlers by event type; `on_recorded` runs once new notifications have committed."""

    async def orders_placed(uow: UnitOfWork, events: Sequence[Event[Any]]) -> None:
        orders: list[contracts.OrderPlacedV1] = [event.data for event in events]
        repo = NotificationRepository(uow.conn)
        await repo.remember_contacts((o.order_id, o.customer_id, o.email) for o in orders)
        await repo.add((o.order_id, Kind.ORDER_RECEIVED, None) for o in orders)
        uow.on_commit(on_recorded)

    async def stock_outcomes(uow: UnitOfWork, events: Sequence[Event[Any]]) -> None:
        await NotificationRepository(uow.conn).add(
            (event.data.order_id, Kind.ORDER_CONFIRMED, None)
            if event.type == contracts.STOCK_RESERVED
            else (event.data.order_id, Kind.ORDER_REJECTED, event.data.reason)
            for event in events
        )
        uow.on_commit(on_recorded)

    outcomes = BatchHandler(stock_outcomes)
    return {
        contracts.ORDER_PLACED: BatchHandler(orders_placed),
        contracts.STOCK_RESERVED: outcomes,
        contracts.STOCK_REJECTED: outcomes,
    }
