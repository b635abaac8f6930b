"""Order use cases: place an order; apply the stock outcome that inventory reports."""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson

from order_service.adapters.repository import OrderRepository
from order_service.domain.model import InvalidTransition, Order, OrderLine
from shared import contracts
from shared.consumer import BatchHandler, Event, PermanentError
from shared.db import utcnow
from shared.envelope import CloudEvent, new_event
from shared.topology import ORDER_EVENTS
from shared.uow import UnitOfWork


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


async def place_orders(
    uow: UnitOfWork, commands: Sequence[PlaceOrder]
) -> list[tuple[Order, bool] | Exception]:
    """Store orders and their OrderPlaced events in the unit of work, in order.

    For each command: the order and whether it was created now. A command whose
    idempotency key was already used for the same content gets the first order back, and
    nothing is published again; for other content, an IdempotencyConflict.
    """
    repo = OrderRepository(uow.conn)
    keys = {c.idempotency_key for c in commands if c.idempotency_key is not None}
    known = await repo.get_by_idempotency_keys(keys) if keys else {}
    results: list[tuple[Order, bool] | Exception] = []
    created: list[Order] = []
    now = utcnow()
    for command in commands:
        key = command.idempotency_key
        if key is not None and key in known:
            results.append(_replayed(known[key], command))
            continue
        order = Order(
            customer_id=command.customer_id,
            email=command.email,
            items=list(command.items),
            created_at=now,
            idempotency_key=key,
            request_hash=command.fingerprint if key is not None else None,
        )
        if key is not None:
            known[key] = order
        created.append(order)
        uow.publish(order_placed(order), ORDER_EVENTS)
        results.append((order, True))
    await repo.add_many(created)
    return results


def _replayed(order: Order, command: PlaceOrder) -> tuple[Order, bool] | Exception:
    if order.request_hash != command.fingerprint:
        return IdempotencyConflict(
            f"Idempotency-Key {command.idempotency_key!r} was already used for another order"
        )
    return order, False


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
