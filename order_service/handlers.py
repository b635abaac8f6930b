"""Order use cases: place an order; apply the stock outcome that inventory reports."""

import hashlib
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy.exc import IntegrityError

from order_service.adapters.repository import OrderRepository
from order_service.domain.model import InvalidTransition, Order, OrderLine
from shared import contracts
from shared.consumer import BatchHandler, Event, PermanentError
from shared.db import utcnow
from shared.envelope import CloudEvent, new_event
from shared.topology import ORDER_EVENTS
from shared.uow import UnitOfWork

UnitOfWorkFactory = Callable[[], AbstractAsyncContextManager[UnitOfWork]]


class IdempotencyConflict(Exception):
    pass


@dataclass(frozen=True)
class PlaceOrder:
    customer_id: str
    email: str | None
    items: list[OrderLine]
    idempotency_key: str | None = None

    @property
    def fingerprint(self) -> str:
        """What "the same request" means for an idempotency key: the same order content."""
        canonical = orjson.dumps(
            {
                "customer_id": self.customer_id,
                "email": self.email,
                "items": [[line.sku, line.quantity] for line in self.items],
            }
        )
        return hashlib.sha256(canonical).hexdigest()


async def place_order(new_uow: UnitOfWorkFactory, command: PlaceOrder) -> tuple[Order, bool]:
    """Store the order and its OrderPlaced event in one transaction.

    Returns the order and whether it was created by this call; with an idempotency key
    already used for the same content, the first order comes back and nothing is
    published again. Raises IdempotencyConflict if the key was used for other content.
    """
    for _ in range(3):
        try:
            async with new_uow() as uow:
                repo = OrderRepository(uow.conn)
                if command.idempotency_key is not None:
                    existing = await repo.get_by_idempotency_key(command.idempotency_key)
                    if existing is not None:
                        return _replayed(existing, command), False
                order = Order(
                    customer_id=command.customer_id,
                    email=command.email,
                    items=list(command.items),
                    created_at=utcnow(),
                    idempotency_key=command.idempotency_key,
                    request_hash=command.fingerprint if command.idempotency_key else None,
                )
                await repo.add(order)
                uow.publish(order_placed(order), ORDER_EVENTS)
            return order, True
        except IntegrityError:
            # A concurrent request with the same key committed first: answer as it did.
            if command.idempotency_key is None:
                raise
    raise RuntimeError("idempotency key contention did not settle")


def _replayed(order: Order, command: PlaceOrder) -> Order:
    if order.request_hash != command.fingerprint:
        raise IdempotencyConflict(
            f"Idempotency-Key {command.idempotency_key!r} was already used for another order"
        )
    return order


def order_placed(order: Order) -> CloudEvent:
    return new_event(
        type=contracts.ORDER_PLACED,
        source=contracts.ORDER_SOURCE,
        data=contracts.OrderPlacedV1(
            order_id=order.id,
            customer_id=order.customer_id,
            email=order.email,
            items=[contracts.OrderLine(sku=i.sku, quantity=i.quantity) for i in order.items],
        ),
    )


async def settle_orders(uow: UnitOfWork, events: Sequence[Event[Any]]) -> None:
    """Apply a run of StockReserved / StockRejected events in order: one query locks the
    orders, one statement writes the ones that changed."""
    repo = OrderRepository(uow.conn)
    orders = await repo.get_many({event.data.order_id for event in events}, for_update=True)
    changed: dict[UUID, Order] = {}
    now = utcnow()
    for event in events:
        order = orders.get(event.data.order_id)
        if order is None:
            raise PermanentError(f"no order {event.data.order_id}")
        try:
            if event.type == contracts.STOCK_RESERVED:
                applied = order.confirm(now)
            else:
                applied = order.reject(event.data.reason, now)
        except InvalidTransition as exc:
            raise PermanentError(str(exc)) from exc
        if applied:
            changed[order.id] = order
    await repo.save_outcomes(changed.values())


on_stock_outcome = BatchHandler(settle_orders)
