"""Order use cases: place an order; apply the stock outcome that inventory reports."""

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

import orjson

from order_service.domain.model import InvalidTransition, Order, OrderLine
from order_service.unit_of_work import OrderUnitOfWork
from shared.contract.envelope import CloudEvent
from shared.contract.events import (
    ORDER_SOURCE,
    OrderPlacedV1,
    OrderPlacedV2,
    PricedOrderLine,
    StockRejectedV1,
    StockReservedV1,
    event_of,
)
from shared.contract.events import OrderLine as EventLine
from shared.contract.topology import ORDER_EVENTS
from shared.core.handlers import Event, Handler, PermanentError, handles

OutcomeT = TypeVar("OutcomeT", StockReservedV1, StockRejectedV1)


class IdempotencyConflict(Exception):
    pass


@dataclass(frozen=True)
class PlaceOrder:
    customer_id: str
    email: str | None
    items: list[OrderLine]  # priced by the entrypoint from the price list
    idempotency_key: str | None = None
    currency: str | None = None

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


def place_orders(
    commands: Sequence[PlaceOrder], uow: OrderUnitOfWork, *, publish_version: int = 2
) -> list[tuple[Order, bool] | Exception]:
    """Store orders and their OrderPlaced events in the unit of work, in order.

    For each command: the order and whether it was created now. A command whose
    idempotency key was already used for the same content gets the first order back, and
    nothing is published again; for other content, an IdempotencyConflict.
    """
    keys = {c.idempotency_key for c in commands if c.idempotency_key is not None}
    known = uow.orders.by_idempotency_keys(keys) if keys else {}
    results: list[tuple[Order, bool] | Exception] = []
    created: list[Order] = []
    now = datetime.now(UTC)
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
            currency=command.currency,
        )
        if key is not None:
            known[key] = order
        created.append(order)
        uow.publish(order_placed(order, publish_version), ORDER_EVENTS)
        results.append((order, True))
    uow.orders.add_many(created)
    return results


def _replayed(order: Order, command: PlaceOrder) -> tuple[Order, bool] | Exception:
    if order.request_hash != command.fingerprint:
        return IdempotencyConflict(
            f"Idempotency-Key {command.idempotency_key!r} was already used for another order"
        )
    return order, False


def order_placed(order: Order, version: int = 2) -> CloudEvent:
    """The OrderPlaced event of a new order, in data version `version` (v1 leaves the
    prices out, for consumers that do not know v2 yet)."""
    data: OrderPlacedV1 | OrderPlacedV2
    if version == 1:
        data = OrderPlacedV1(
            order_id=order.id,
            customer_id=order.customer_id,
            email=order.email,
            items=[EventLine(sku=i.sku, quantity=i.quantity) for i in order.items],
        )
    else:
        total = order.total
        data = OrderPlacedV2(
            order_id=order.id,
            customer_id=order.customer_id,
            email=order.email,
            items=[
                PricedOrderLine(sku=i.sku, quantity=i.quantity, unit_price=_money(i.unit_price))
                for i in order.items
            ],
            currency=order.currency if total is not None else None,
            total=_money(total),
        )
    return event_of(data, source=ORDER_SOURCE)


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else format(amount, "f")


def confirm_orders(events: Sequence[Event[StockReservedV1]], uow: OrderUnitOfWork) -> None:
    _settle(events, uow, lambda order, _, now: order.confirm(now))


def reject_orders(events: Sequence[Event[StockRejectedV1]], uow: OrderUnitOfWork) -> None:
    _settle(events, uow, lambda order, outcome, now: order.reject(outcome.reason, now))


def _settle(
    events: Sequence[Event[OutcomeT]],
    uow: OrderUnitOfWork,
    transition: Callable[[Order, OutcomeT, datetime], bool],
) -> None:
    """Apply a run of outcomes in order: one query locks the orders, one statement writes
    the ones that changed. A repeated outcome changes nothing."""
    orders = uow.orders.lock_many({event.data.order_id for event in events})
    changed: dict[UUID, Order] = {}
    now = datetime.now(UTC)
    for event in events:
        order = orders.get(event.data.order_id)
        if order is None:
            raise PermanentError(f"no order {event.data.order_id}")
        try:
            applied = transition(order, event.data, now)
        except InvalidTransition as exc:
            raise PermanentError(str(exc)) from exc
        if applied:
            changed[order.id] = order
    uow.orders.save_outcomes(changed.values())


HANDLERS: list[Handler[OrderUnitOfWork, Any]] = [
    handles(StockReservedV1, confirm_orders),
    handles(StockRejectedV1, reject_orders),
]
