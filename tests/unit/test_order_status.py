from datetime import UTC, datetime, timedelta

import pytest

from order_service.domain.model import InvalidTransition, Order, OrderLine, OrderStatus

PLACED_AT = datetime(2024, 5, 6, 7, 0, tzinfo=UTC)
SETTLED_AT = PLACED_AT + timedelta(seconds=3)
LATER = PLACED_AT + timedelta(minutes=5)


def a_pending_order() -> Order:
    return Order(
        customer_id="c-42",
        email="ada@example.com",
        items=[OrderLine("A", 1)],
        created_at=PLACED_AT,
    )


def test_a_new_order_is_pending_and_updated_when_created() -> None:
    order = a_pending_order()

    assert order.status is OrderStatus.PENDING
    assert order.updated_at == PLACED_AT
    assert order.rejection_reason is None


def test_a_pending_order_can_be_confirmed() -> None:
    order = a_pending_order()

    changed = order.confirm(SETTLED_AT)

    assert changed is True
    assert order.status is OrderStatus.CONFIRMED
    assert order.updated_at == SETTLED_AT
    assert order.rejection_reason is None


def test_a_pending_order_can_be_rejected_keeping_the_reason() -> None:
    order = a_pending_order()

    changed = order.reject("unknown sku: A", SETTLED_AT)

    assert changed is True
    assert order.status is OrderStatus.REJECTED
    assert order.rejection_reason == "unknown sku: A"
    assert order.updated_at == SETTLED_AT


def test_confirming_twice_is_a_no_op() -> None:
    order = a_pending_order()
    order.confirm(SETTLED_AT)

    changed = order.confirm(LATER)

    assert changed is False
    assert order.status is OrderStatus.CONFIRMED
    assert order.updated_at == SETTLED_AT


def test_rejecting_twice_is_a_no_op_keeping_the_first_reason() -> None:
    order = a_pending_order()
    order.reject("unknown sku: A", SETTLED_AT)

    changed = order.reject("another reason", LATER)

    assert changed is False
    assert order.status is OrderStatus.REJECTED
    assert order.rejection_reason == "unknown sku: A"
    assert order.updated_at == SETTLED_AT


def test_a_confirmed_order_cannot_be_rejected() -> None:
    order = a_pending_order()
    order.confirm(SETTLED_AT)

    with pytest.raises(InvalidTransition, match="is CONFIRMED, cannot become REJECTED"):
        order.reject("too late", LATER)

    assert order.status is OrderStatus.CONFIRMED
    assert order.rejection_reason is None
    assert order.updated_at == SETTLED_AT


def test_a_rejected_order_cannot_be_confirmed() -> None:
    order = a_pending_order()
    order.reject("unknown sku: A", SETTLED_AT)

    with pytest.raises(InvalidTransition, match="is REJECTED, cannot become CONFIRMED"):
        order.confirm(LATER)

    assert order.status is OrderStatus.REJECTED
    assert order.updated_at == SETTLED_AT


def test_an_invalid_transition_names_the_order() -> None:
    order = a_pending_order()
    order.confirm(SETTLED_AT)

    with pytest.raises(InvalidTransition, match=str(order.id)):
        order.reject("too late", LATER)
