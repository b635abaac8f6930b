"""Notification use cases: one notification per (order, kind), whatever the redeliveries.

The outcome of an order can arrive before the order itself (they come through different
queues): its notification is recorded anyway and waits, unsent, until the order's contact
is known; the recipient is resolved when it is sent."""

from collections.abc import Sequence
from typing import Any

from notification_service.domain.model import Contact, Kind, NewNotification
from notification_service.unit_of_work import NotificationUnitOfWork
from shared.contract.events import OrderPlacedV2, StockRejectedV1, StockReservedV1
from shared.core.handlers import Event, Handler, handles


def order_received(events: Sequence[Event[OrderPlacedV2]], uow: NotificationUnitOfWork) -> None:
    orders = [event.data for event in events]
    uow.contacts.remember(Contact(o.order_id, o.customer_id, o.email) for o in orders)
    uow.notifications.add(
        NewNotification(e.data.order_id, Kind.ORDER_RECEIVED, amount=_amount(e.data), cause=e.id)
        for e in events
    )
    uow.send_when_committed(e.data.order_id for e in events)


def order_confirmed(events: Sequence[Event[StockReservedV1]], uow: NotificationUnitOfWork) -> None:
    uow.notifications.add(
        NewNotification(event.data.order_id, Kind.ORDER_CONFIRMED, cause=event.id)
        for event in events
    )
    uow.send_when_committed(e.data.order_id for e in events)


def order_rejected(events: Sequence[Event[StockRejectedV1]], uow: NotificationUnitOfWork) -> None:
    uow.notifications.add(
        NewNotification(event.data.order_id, Kind.ORDER_REJECTED, event.data.reason, cause=event.id)
        for event in events
    )
    uow.send_when_committed(e.data.order_id for e in events)


ORDER_EVENT_HANDLERS: list[Handler[NotificationUnitOfWork, Any]] = [
    handles(OrderPlacedV2, order_received)
]
INVENTORY_EVENT_HANDLERS: list[Handler[NotificationUnitOfWork, Any]] = [
    handles(StockReservedV1, order_confirmed),
    handles(StockRejectedV1, order_rejected),
]


def _amount(order: OrderPlacedV2) -> str | None:
    """What the order costs, as the e-mail says it ("29.97 EUR"), when it is known."""
    if order.total is None or order.currency is None:
        return None
    return f"{order.total} {order.currency}"
