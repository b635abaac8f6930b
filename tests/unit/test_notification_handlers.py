"""The notification use cases against an in-memory unit of work: one notification per
(order, kind) however often an event comes, and sending asked for only after commit."""

import uuid
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from notification_service.domain.model import Contact, Kind, compose
from notification_service.handlers import (
    INVENTORY_EVENT_HANDLERS,
    ORDER_EVENT_HANDLERS,
    order_confirmed,
    order_received,
    order_rejected,
)
from shared.contract.events import OrderPlacedV1, StockRejectedV1, StockReservedV1
from shared.contract.topology import NOTIFICATION_INVENTORY_EVENTS, NOTIFICATION_ORDER_EVENTS
from shared.core.handlers import Event, Subscription
from tests.unit.fakes import (
    FakeNotificationUnitOfWork,
    commit,
    order_placed,
    republished,
    staged,
    stock_rejected,
    stock_reserved,
)

Apply = Callable[[Sequence[Event[Any]], FakeNotificationUnitOfWork], None]

# (handler, an event for an order, the kind it records)
CASES: list[tuple[Apply, Callable[[uuid.UUID], Event[Any]], Kind]] = [
    (
        order_received,
        lambda order_id: order_placed([("A", 1)], order_id=order_id),
        Kind.ORDER_RECEIVED,
    ),
    (order_confirmed, stock_reserved, Kind.ORDER_CONFIRMED),
    (order_rejected, stock_rejected, Kind.ORDER_REJECTED),
]
IDS = ["received", "confirmed", "rejected"]


def test_an_order_placed_remembers_its_contact_and_records_order_received() -> None:
    uow = FakeNotificationUnitOfWork()
    placed = order_placed([("A", 1)], customer_id="c-7", email="ada@example.com")
    order_id = placed.data.order_id

    order_received([placed], uow)

    assert uow.contacts.by_order == {order_id: Contact(order_id, "c-7", "ada@example.com")}
    (notification,) = uow.notifications.of(order_id)
    assert notification.kind is Kind.ORDER_RECEIVED
    assert (notification.subject, notification.body) == compose(Kind.ORDER_RECEIVED, order_id)
    assert staged(uow) == []


def test_a_run_of_orders_placed_records_one_order_received_each() -> None:
    uow = FakeNotificationUnitOfWork()
    events = [order_placed([("A", 1)], customer_id=f"c-{n}") for n in range(3)]

    order_received(events, uow)

    for event in events:
        assert [n.kind for n in uow.notifications.of(event.data.order_id)] == [Kind.ORDER_RECEIVED]
        assert uow.contacts.by_order[event.data.order_id].customer_id == event.data.customer_id


def test_a_reservation_records_order_confirmed() -> None:
    uow = FakeNotificationUnitOfWork()
    order_id = uuid.uuid4()

    order_confirmed([stock_reserved(order_id)], uow)

    (notification,) = uow.notifications.of(order_id)
    assert notification.kind is Kind.ORDER_CONFIRMED
    assert (notification.subject, notification.body) == compose(Kind.ORDER_CONFIRMED, order_id)


def test_a_rejection_records_order_rejected_with_its_reason_in_the_message() -> None:
    uow = FakeNotificationUnitOfWork()
    order_id = uuid.uuid4()
    reason = "insufficient stock: A (requested 3, available 1)"

    order_rejected([stock_rejected(order_id, reason)], uow)

    (notification,) = uow.notifications.of(order_id)
    assert notification.kind is Kind.ORDER_REJECTED
    assert (notification.subject, notification.body) == compose(
        Kind.ORDER_REJECTED, order_id, reason
    )
    assert reason in notification.body


def test_an_outcome_before_its_order_is_recorded_and_waits_for_the_contact() -> None:
    uow = FakeNotificationUnitOfWork()
    order_id = uuid.uuid4()

    order_confirmed([stock_reserved(order_id)], uow)

    assert [n.kind for n in uow.notifications.of(order_id)] == [Kind.ORDER_CONFIRMED]
    assert uow.contacts.by_order == {}


@pytest.mark.parametrize(("apply", "make", "kind"), CASES, ids=IDS)
def test_the_same_event_twice_in_one_run_records_one_notification(
    apply: Apply, make: Callable[[uuid.UUID], Event[Any]], kind: Kind
) -> None:
    uow = FakeNotificationUnitOfWork()
    order_id = uuid.uuid4()
    event = make(order_id)

    apply([event, event], uow)

    assert [n.kind for n in uow.notifications.of(order_id)] == [kind]


@pytest.mark.parametrize(("apply", "make", "kind"), CASES, ids=IDS)
def test_two_events_for_one_order_and_kind_record_one_notification(
    apply: Apply, make: Callable[[uuid.UUID], Event[Any]], kind: Kind
) -> None:
    first = FakeNotificationUnitOfWork()
    order_id = uuid.uuid4()
    event = make(order_id)
    apply([event], first)
    recorded = first.notifications.of(order_id)
    later = first.next_transaction()

    apply([republished(event), make(order_id)], later)

    assert later.notifications.of(order_id) == recorded


def test_an_order_gets_one_notification_of_each_kind() -> None:
    uow = FakeNotificationUnitOfWork()
    placed = order_placed([("A", 1)])
    order_id = placed.data.order_id

    order_received([placed], uow)
    order_confirmed([stock_reserved(order_id)], uow)
    order_rejected([stock_rejected(order_id, "late")], uow)

    assert sorted(n.kind for n in uow.notifications.of(order_id)) == sorted(Kind)


def test_the_first_contact_of_an_order_stays() -> None:
    uow = FakeNotificationUnitOfWork()
    placed = order_placed([("A", 1)], email="first@example.com")
    second = order_placed([("A", 1)], order_id=placed.data.order_id, email="second@example.com")

    order_received([placed], uow)
    order_received([second], uow.next_transaction())

    assert uow.contacts.by_order[placed.data.order_id].email == "first@example.com"


@pytest.mark.parametrize(("apply", "make", "kind"), CASES, ids=IDS)
def test_each_handler_hands_what_is_ready_to_the_sender_once_committed_and_not_before(
    apply: Apply, make: Callable[[uuid.UUID], Event[Any]], kind: Kind
) -> None:
    uow = FakeNotificationUnitOfWork()
    order_id = uuid.uuid4()
    uow.contacts.remember([Contact(order_id, "c-1", "ada@example.com")])

    apply([make(order_id)], uow)

    assert uow.handed == [], "nothing is sent before the commit"
    commit(uow)
    assert [(n.order_id, n.kind) for n in uow.handed] == [(order_id, kind)]


def test_a_notification_whose_contact_is_not_known_yet_waits_for_it() -> None:
    uow = FakeNotificationUnitOfWork()
    placed = order_placed([("A", 1)])
    order_id = placed.data.order_id

    order_confirmed([stock_reserved(order_id)], uow)  # the outcome came first
    commit(uow)
    assert uow.handed == []

    later = uow.next_transaction()
    order_received([placed], later)  # the contact is known now: both go out
    commit(later)
    assert sorted(n.kind for n in later.handed) == [Kind.ORDER_CONFIRMED, Kind.ORDER_RECEIVED]


def test_a_notification_is_handed_to_the_sender_once() -> None:
    uow = FakeNotificationUnitOfWork()
    placed = order_placed([("A", 1)])
    order_received([placed], uow)
    commit(uow)
    later = uow.next_transaction()

    order_received([republished(placed)], later)
    commit(later)

    assert len(uow.handed) == 1 and later.handed == []


def test_the_notification_queues_take_the_events_of_each_kind() -> None:
    orders = Subscription.of(NOTIFICATION_ORDER_EVENTS, ORDER_EVENT_HANDLERS)
    outcomes = Subscription.of(NOTIFICATION_INVENTORY_EVENTS, INVENTORY_EVENT_HANDLERS)

    assert {t: h.apply for t, h in orders.handlers.items()} == {
        OrderPlacedV1.event_type: order_received
    }
    assert {t: h.apply for t, h in outcomes.handlers.items()} == {
        StockReservedV1.event_type: order_confirmed,
        StockRejectedV1.event_type: order_rejected,
    }
