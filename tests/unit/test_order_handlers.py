"""The order use cases against an in-memory unit of work: placing orders (with the
Idempotency-Key rules) and settling them with the stock outcome inventory reports."""

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from order_service.domain.model import Order, OrderLine, OrderStatus
from order_service.handlers import (
    HANDLERS,
    IdempotencyConflict,
    PlaceOrder,
    confirm_orders,
    place_orders,
    reject_orders,
)
from shared.contract.events import (
    ORDER_PLACED,
    ORDER_SOURCE,
    OrderPlacedV1,
    StockRejectedV1,
    StockReservedV1,
)
from shared.contract.topology import ORDER_EVENTS, ORDER_INVENTORY_EVENTS
from shared.core.handlers import PermanentError, Subscription
from tests.unit.fakes import (
    FakeOrderUnitOfWork,
    lines,
    staged,
    stock_rejected,
    stock_reserved,
)

EARLIER = datetime(2024, 1, 1, tzinfo=UTC)


def a_command(**overrides: Any) -> PlaceOrder:
    command = PlaceOrder(
        customer_id="c-42",
        email="ada@example.com",
        items=[OrderLine("A", 1), OrderLine("B", 2)],
        idempotency_key=None,
    )
    return replace(command, **overrides)


def a_pending_order(**overrides: Any) -> Order:
    order = Order(customer_id="c-1", email=None, items=[OrderLine("A", 1)], created_at=EARLIER)
    return replace(order, **overrides)


def created(result: tuple[Order, bool] | Exception) -> Order:
    assert isinstance(result, tuple), result
    order, was_created = result
    assert was_created
    return order


# --- placing orders -----------------------------------------------------------------------


def test_placing_orders_stores_each_pending_and_stages_one_order_placed_each() -> None:
    uow = FakeOrderUnitOfWork()
    commands = [a_command(), a_command(customer_id="c-43", email=None)]

    results = place_orders(commands, uow)

    orders = [created(result) for result in results]
    assert [o.customer_id for o in orders] == ["c-42", "c-43"]
    assert {o.id: o.status for o in uow.orders.rows.values()} == {
        orders[0].id: OrderStatus.PENDING,
        orders[1].id: OrderStatus.PENDING,
    }
    messages = staged(uow)
    assert [(m.exchange, m.routing_key, m.event.type) for m in messages] == [
        (ORDER_EVENTS, "", ORDER_PLACED),
        (ORDER_EVENTS, "", ORDER_PLACED),
    ]
    assert [m.event.source for m in messages] == [ORDER_SOURCE, ORDER_SOURCE]
    assert [OrderPlacedV1.model_validate(m.event.data) for m in messages] == [
        OrderPlacedV1(
            order_id=orders[0].id,
            customer_id="c-42",
            email="ada@example.com",
            items=lines([("A", 1), ("B", 2)]),
        ),
        OrderPlacedV1(order_id=orders[1].id, customer_id="c-43", items=lines([("A", 1), ("B", 2)])),
    ]


def test_commands_without_an_idempotency_key_are_each_a_new_order() -> None:
    uow = FakeOrderUnitOfWork()

    results = place_orders([a_command(), a_command()], uow)

    assert len({created(r).id for r in results}) == 2
    assert len(uow.orders.rows) == 2
    assert len(staged(uow)) == 2


def test_a_key_replayed_with_the_same_content_returns_the_first_order_and_stages_nothing() -> None:
    first = FakeOrderUnitOfWork()
    (result,) = place_orders([a_command(idempotency_key="k-1")], first)
    original = created(result)
    replay = first.next_transaction()

    (again,) = place_orders([a_command(idempotency_key="k-1")], replay)

    assert again == (original, False)
    assert list(replay.orders.rows) == [original.id]
    assert staged(replay) == []


def test_a_key_reused_for_other_content_is_a_conflict_for_that_command_alone() -> None:
    first = FakeOrderUnitOfWork()
    original = created(place_orders([a_command(idempotency_key="k-1")], first)[0])
    later = first.next_transaction()

    conflict, fresh = place_orders(
        [a_command(idempotency_key="k-1", customer_id="someone-else"), a_command()], later
    )

    assert isinstance(conflict, IdempotencyConflict)
    assert "k-1" in str(conflict)
    other = created(fresh)
    assert set(later.orders.rows) == {original.id, other.id}
    assert [m.event.data["order_id"] for m in staged(later)] == [str(other.id)]


def test_two_commands_with_one_new_key_in_one_batch_make_one_order() -> None:
    uow = FakeOrderUnitOfWork()

    first, second = place_orders(
        [a_command(idempotency_key="k-1"), a_command(idempotency_key="k-1")], uow
    )

    order = created(first)
    assert second == (order, False)
    assert list(uow.orders.rows) == [order.id]
    assert len(staged(uow)) == 1


def test_a_new_key_used_twice_in_one_batch_for_other_content_is_a_conflict() -> None:
    uow = FakeOrderUnitOfWork()

    first, second = place_orders(
        [a_command(idempotency_key="k-1"), a_command(idempotency_key="k-1", email=None)], uow
    )

    order = created(first)
    assert isinstance(second, IdempotencyConflict)
    assert list(uow.orders.rows) == [order.id]
    assert len(staged(uow)) == 1


# --- settling orders ----------------------------------------------------------------------


def test_a_reservation_confirms_a_pending_order() -> None:
    order = a_pending_order()
    uow = FakeOrderUnitOfWork(order)

    confirm_orders([stock_reserved(order.id)], uow)

    stored = uow.orders.get(order.id)
    assert stored.status is OrderStatus.CONFIRMED
    assert stored.rejection_reason is None
    assert stored.updated_at is not None and stored.updated_at > EARLIER
    assert uow.orders.saves == [[order.id]]
    assert staged(uow) == []


def test_a_rejection_rejects_a_pending_order_with_its_reason() -> None:
    order = a_pending_order()
    uow = FakeOrderUnitOfWork(order)

    reject_orders(
        [stock_rejected(order.id, "insufficient stock: A (requested 1, available 0)")], uow
    )

    stored = uow.orders.get(order.id)
    assert stored.status is OrderStatus.REJECTED
    assert stored.rejection_reason == "insufficient stock: A (requested 1, available 0)"
    assert uow.orders.saves == [[order.id]]


def test_one_run_settles_every_order_it_names() -> None:
    orders = [a_pending_order() for _ in range(3)]
    uow = FakeOrderUnitOfWork(*orders)

    confirm_orders([stock_reserved(o.id) for o in orders], uow)

    assert {uow.orders.get(o.id).status for o in orders} == {OrderStatus.CONFIRMED}
    assert sorted(map(str, uow.orders.saves[0])) == sorted(str(o.id) for o in orders)


@pytest.mark.parametrize(
    ("status", "settle", "outcome"),
    [
        (OrderStatus.CONFIRMED, confirm_orders, stock_reserved),
        (OrderStatus.REJECTED, reject_orders, stock_rejected),
    ],
    ids=["confirmed", "rejected"],
)
def test_a_repeated_outcome_changes_nothing(status: OrderStatus, settle: Any, outcome: Any) -> None:
    order = a_pending_order(status=status, rejection_reason="first reason", updated_at=EARLIER)
    uow = FakeOrderUnitOfWork(order)

    settle([outcome(order.id)], uow)

    assert uow.orders.get(order.id) == order
    assert uow.orders.saves == [[]]


def test_two_outcomes_for_one_order_in_one_run_settle_it_once() -> None:
    order = a_pending_order()
    uow = FakeOrderUnitOfWork(order)

    reject_orders([stock_rejected(order.id, "first"), stock_rejected(order.id, "second")], uow)

    assert uow.orders.get(order.id).rejection_reason == "first"
    assert uow.orders.saves == [[order.id]]


@pytest.mark.parametrize(
    ("settle", "outcome"),
    [(confirm_orders, stock_reserved), (reject_orders, stock_rejected)],
    ids=["reserved", "rejected"],
)
def test_an_outcome_for_an_unknown_order_is_a_permanent_error(settle: Any, outcome: Any) -> None:
    known = a_pending_order()
    uow = FakeOrderUnitOfWork(known)
    unknown = uuid.uuid4()

    with pytest.raises(PermanentError, match=str(unknown)):
        settle([outcome(known.id), outcome(unknown)], uow)


@pytest.mark.parametrize(
    ("status", "settle", "outcome"),
    [
        (OrderStatus.REJECTED, confirm_orders, stock_reserved),
        (OrderStatus.CONFIRMED, reject_orders, stock_rejected),
    ],
    ids=["confirm-a-rejected-order", "reject-a-confirmed-order"],
)
def test_the_opposite_outcome_for_a_settled_order_is_a_permanent_error(
    status: OrderStatus, settle: Any, outcome: Any
) -> None:
    order = a_pending_order(status=status)
    uow = FakeOrderUnitOfWork(order)

    with pytest.raises(PermanentError, match=str(order.id)):
        settle([outcome(order.id)], uow)

    assert uow.orders.get(order.id).status is status


def test_orders_take_both_stock_outcomes_from_their_queue() -> None:
    subscription = Subscription.of(ORDER_INVENTORY_EVENTS, HANDLERS)

    assert {t: h.apply for t, h in subscription.handlers.items()} == {
        StockReservedV1.event_type: confirm_orders,
        StockRejectedV1.event_type: reject_orders,
    }
