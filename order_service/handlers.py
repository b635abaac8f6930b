"""Order use cases: place an order; apply the stock outcome that inventory reports."""

import hashlib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import orjson
from sqlalchemy.exc import IntegrityError

from order_service.adapters.repository import OrderRepository
from order_service.domain.model import InvalidTransition, Order, OrderLine
from shared import contracts
from shared.consumer import Event, PermanentError
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


async def on_stock_reserved(uow: UnitOfWork, event: Event[contracts.StockReservedV1]) -> None:
    await _settle(uow, event.data.order_id, lambda order, at: order.confirm(at))


async def on_stock_rejected(uow: UnitOfWork, event: Event[contracts.StockRejectedV1]) -> None:
    reason = event.data.reason
    await _settle(uow, event.data.order_id, lambda order, at: order.reject(reason, at))


async def _settle(
    uow: UnitOfWork, order_id: UUID, apply: Callable[[Order, datetime], bool]
) -> None:
    repo = OrderRepository(uow.conn)
    order = await repo.get(order_id, for_update=True)
    if order is None:
        raise PermanentError(f"no order {order_id}")
    try:
        changed = apply(order, utcnow())
    except InvalidTransition as exc:
        raise PermanentError(str(exc)) from exc
    if changed:
        await repo.save_outcome(order)
