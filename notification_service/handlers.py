"""Notification use cases: one notification per (order, kind), whatever the redeliveries."""

from collections.abc import Callable

from notification_service.adapters.repository import NotificationRepository
from notification_service.domain.model import Kind
from shared import contracts
from shared.consumer import Event, Handler
from shared.uow import UnitOfWork


def build_handlers(on_recorded: Callable[[], None]) -> dict[str, Handler]:
    """Handlers by event type; `on_recorded` runs once a new notification has committed."""

    async def on_order_placed(uow: UnitOfWork, event: Event[contracts.OrderPlacedV1]) -> None:
        order = event.data
        repo = NotificationRepository(uow.conn)
        await repo.remember_contact(order.order_id, order.customer_id, order.email)
        await repo.add(order.order_id, Kind.ORDER_RECEIVED)
        uow.on_commit(on_recorded)

    async def on_stock_reserved(uow: UnitOfWork, event: Event[contracts.StockReservedV1]) -> None:
        if await NotificationRepository(uow.conn).add(event.data.order_id, Kind.ORDER_CONFIRMED):
            uow.on_commit(on_recorded)

    async def on_stock_rejected(uow: UnitOfWork, event: Event[contracts.StockRejectedV1]) -> None:
        repo = NotificationRepository(uow.conn)
        if await repo.add(event.data.order_id, Kind.ORDER_REJECTED, event.data.reason):
            uow.on_commit(on_recorded)

    return {
        contracts.ORDER_PLACED: on_order_placed,
        contracts.STOCK_RESERVED: on_stock_reserved,
        contracts.STOCK_REJECTED: on_stock_rejected,
    }
