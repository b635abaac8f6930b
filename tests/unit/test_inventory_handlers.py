"""The inventory use cases against an in-memory unit of work: the reservation rule as the
consumer applies it (a run of OrderPlaced events, all lines or none, one reservation per
order), what it publishes, and setting a sku's level."""

import uuid
from collections.abc import Callable

import pytest

from inventory_service.domain.model import Line, Reservation, StockLevel
from inventory_service.handlers import HANDLERS, SetStock, reserve_stock, set_stock
from shared.contract.events import (
    INVENTORY_SOURCE,
    STOCK_REJECTED,
    STOCK_RESERVED,
    OrderPlacedV2,
    StockRejectedV1,
    StockReservedV1,
)
from shared.contract.topology import INVENTORY_EVENTS, INVENTORY_ORDER_EVENTS
from shared.core.handlers import Event, Subscription
from tests.unit.fakes import (
    FakeInventoryUnitOfWork,
    event_of,
    lines,
    order_placed,
    priced_lines,
    republished,
    staged,
)


def reserved_data(uow: FakeInventoryUnitOfWork) -> list[StockReservedV1 | StockRejectedV1]:
    outcomes: list[StockReservedV1 | StockRejectedV1] = []
    for message in staged(uow):
        if message.event.type == STOCK_RESERVED:
            outcomes.append(StockReservedV1.model_validate(message.event.data))
        else:
            outcomes.append(StockRejectedV1.model_validate(message.event.data))
    return outcomes


def test_an_order_within_stock_reserves_every_line_and_publishes_stock_reserved() -> None:
    uow = FakeInventoryUnitOfWork(StockLevel("A", 10, reserved=1), StockLevel("B", 5))
    placed = order_placed([("B", 2), ("A", 3)])

    reserve_stock([placed], uow)

    assert uow.stock.levels == {
        "A": StockLevel("A", 7, reserved=4),
        "B": StockLevel("B", 3, reserved=2),
    }
    assert uow.reservations.by_order == {
        placed.data.order_id: Reservation(
            placed.data.order_id, "RESERVED", [Line("A", 3), Line("B", 2)], placed.id
        )
    }
    assert reserved_data(uow) == [
        StockReservedV1(order_id=placed.data.order_id, items=lines([("A", 3), ("B", 2)]))
    ]


def test_an_order_for_more_than_is_available_is_rejected_and_reserves_nothing() -> None:
    uow = FakeInventoryUnitOfWork(StockLevel("A", 10), StockLevel("B", 2, reserved=3))
    placed = order_placed([("A", 4), ("B", 5)])

    reserve_stock([placed], uow)

    assert uow.stock.levels == {"A": StockLevel("A", 10), "B": StockLevel("B", 2, reserved=3)}
    reason = "insufficient stock: B (requested 5, available 2)"
    assert uow.reservations.by_order[placed.data.order_id] == Reservation(
        placed.data.order_id, "REJECTED", [Line("A", 4), Line("B", 5)], placed.id, reason
    )
    assert reserved_data(uow) == [
        StockRejectedV1(
            order_id=placed.data.order_id, items=lines([("A", 4), ("B", 5)]), reason=reason
        )
    ]


def test_an_order_for_an_unknown_sku_is_rejected_naming_the_sku_and_reserves_nothing() -> None:
    uow = FakeInventoryUnitOfWork(StockLevel("A", 10))
    placed = order_placed([("A", 1), ("NOPE", 1)])

    reserve_stock([placed], uow)

    assert uow.stock.levels == {"A": StockLevel("A", 10)}
    assert reserved_data(uow) == [
        StockRejectedV1(
            order_id=placed.data.order_id,
            items=lines([("A", 1), ("NOPE", 1)]),
            reason="unknown sku: NOPE",
        )
    ]
    assert uow.reservations.by_order[placed.data.order_id].status == "REJECTED"


def test_orders_of_one_run_are_decided_in_turn_against_the_stock_the_earlier_ones_left() -> None:
    uow = FakeInventoryUnitOfWork(StockLevel("A", 5))
    first, second, third = (order_placed([("A", n)]) for n in (3, 3, 2))

    reserve_stock([first, second, third], uow)

    assert [type(outcome) for outcome in reserved_data(uow)] == [
        StockReservedV1,
        StockRejectedV1,
        StockReservedV1,
    ]
    rejected = reserved_data(uow)[1]
    assert isinstance(rejected, StockRejectedV1)
    assert rejected.reason == "insufficient stock: A (requested 3, available 2)"
    assert uow.stock.levels == {"A": StockLevel("A", 0, reserved=5)}
    assert [uow.reservations.by_order[e.data.order_id].status for e in (first, second, third)] == [
        "RESERVED",
        "REJECTED",
        "RESERVED",
    ]


def test_a_run_gives_the_same_result_as_its_events_one_at_a_time() -> None:
    events = [order_placed([("A", n), ("B", 1)]) for n in (2, 4, 1, 1)]
    together = FakeInventoryUnitOfWork(StockLevel("A", 4), StockLevel("B", 3))
    one_by_one = FakeInventoryUnitOfWork(StockLevel("A", 4), StockLevel("B", 3))

    reserve_stock(events, together)
    for event in events:
        reserve_stock([event], one_by_one)

    assert together.stock.levels == one_by_one.stock.levels
    assert together.reservations.by_order == one_by_one.reservations.by_order
    assert reserved_data(together) == reserved_data(one_by_one)


@pytest.mark.parametrize(
    ("available", "outcome"),
    [(6, StockReservedV1), (5, StockRejectedV1)],
    ids=["enough-for-the-sum", "enough-for-each-line-not-the-sum"],
)
def test_two_lines_of_one_sku_are_reserved_as_one_line_of_their_sum(
    available: int, outcome: type[StockReservedV1 | StockRejectedV1]
) -> None:
    uow = FakeInventoryUnitOfWork(StockLevel("A", available))
    placed = order_placed([("A", 3), ("A", 3)])

    reserve_stock([placed], uow)

    (data,) = reserved_data(uow)
    assert type(data) is outcome
    assert data.items == lines([("A", 6)])
    if outcome is StockReservedV1:
        assert uow.stock.levels["A"] == StockLevel("A", available - 6, reserved=6)
    else:
        assert isinstance(data, StockRejectedV1)
        assert data.reason == f"insufficient stock: A (requested 6, available {available})"
        assert uow.stock.levels["A"] == StockLevel("A", available)


@pytest.mark.parametrize("available", [12_000, 0], ids=["in-stock", "out-of-stock"])
def test_lines_of_one_sku_over_the_limit_per_sku_together_reject_the_order_with_a_reason(
    available: int,
) -> None:
    """A trusted producer may send what our API refuses: two lines of one sku whose sum is
    over the contract's 10,000 a line. The order is settled (rejected), never retried."""
    uow = FakeInventoryUnitOfWork(StockLevel("SKU-1", available), StockLevel("B", 5))
    placed = order_placed([("SKU-1", 6000), ("B", 1), ("SKU-1", 6000)])

    reserve_stock([placed], uow)

    reason = "over the limit of 10000 per sku: SKU-1 (12000 on 2 lines)"
    assert reserved_data(uow) == [
        StockRejectedV1(
            order_id=placed.data.order_id,
            items=lines([("SKU-1", 6000), ("B", 1), ("SKU-1", 6000)]),
            reason=reason,
        )
    ]
    assert uow.stock.levels == {"SKU-1": StockLevel("SKU-1", available), "B": StockLevel("B", 5)}
    reservation = uow.reservations.by_order[placed.data.order_id]
    assert (reservation.status, reservation.reason) == ("REJECTED", reason)


def test_an_order_that_has_a_reservation_already_is_ignored() -> None:
    placed = order_placed([("A", 2)])
    uow = FakeInventoryUnitOfWork(StockLevel("A", 10, reserved=2))
    earlier = Reservation(placed.data.order_id, "RESERVED", [Line("A", 2)], "earlier-event")
    uow.reservations.add([earlier])

    reserve_stock([republished(placed)], uow)

    assert uow.stock.levels == {"A": StockLevel("A", 10, reserved=2)}
    assert uow.reservations.by_order == {placed.data.order_id: earlier}
    assert staged(uow) == []


def test_an_order_placed_again_in_a_later_transaction_reserves_nothing_more() -> None:
    first = FakeInventoryUnitOfWork(StockLevel("A", 10))
    placed = order_placed([("A", 2)])
    reserve_stock([placed], first)
    later = first.next_transaction()

    reserve_stock([republished(placed)], later)

    assert later.stock.levels == {"A": StockLevel("A", 8, reserved=2)}
    assert len(later.reservations.by_order) == 1
    assert staged(later) == []


@pytest.mark.parametrize(
    "again",
    [lambda e: e, republished],
    ids=["same-event-id", "another-event-id"],
)
def test_two_events_for_one_order_in_one_run_make_one_reservation_and_one_outcome(
    again: Callable[[Event[OrderPlacedV2]], Event[OrderPlacedV2]],
) -> None:
    uow = FakeInventoryUnitOfWork(StockLevel("A", 10))
    placed = order_placed([("A", 2)])

    reserve_stock([placed, again(placed)], uow)

    assert uow.stock.levels == {"A": StockLevel("A", 8, reserved=2)}
    assert list(uow.reservations.by_order) == [placed.data.order_id]
    assert uow.reservations.by_order[placed.data.order_id].event_id == placed.id
    assert [m.event.type for m in staged(uow)] == [STOCK_RESERVED]


@pytest.mark.parametrize(
    ("available", "event_type"),
    [(10, STOCK_RESERVED), (1, STOCK_REJECTED)],
    ids=["reserved", "rejected"],
)
def test_each_outcome_goes_to_inventory_events_naming_its_cause(
    available: int, event_type: str
) -> None:
    uow = FakeInventoryUnitOfWork(StockLevel("A", available))
    request = event_of(
        OrderPlacedV2(order_id=uuid.uuid4(), customer_id="c-1", items=priced_lines([("A", 1)]))
    )
    # An OrderPlaced that is itself part of a flow: its correlation id is not its id.
    placed = event_of(
        OrderPlacedV2(order_id=uuid.uuid4(), customer_id="c-1", items=priced_lines([("A", 2)])),
        cause=request.envelope,
    )
    assert placed.envelope.correlationid != placed.id

    reserve_stock([placed], uow)

    (message,) = staged(uow)
    assert (message.exchange, message.routing_key) == (INVENTORY_EVENTS, "")
    assert message.event.type == event_type
    assert message.event.source == INVENTORY_SOURCE
    assert message.event.correlationid == request.id
    assert message.event.causationid == placed.id
    assert message.event.id not in (placed.id, request.id)
    assert message.event.data["order_id"] == str(placed.data.order_id)


def test_each_order_of_a_run_gets_its_own_outcome_in_order() -> None:
    uow = FakeInventoryUnitOfWork(StockLevel("A", 3))
    events = [order_placed([("A", 2)]) for _ in range(3)]

    reserve_stock(events, uow)

    messages = staged(uow)
    assert [m.event.causationid for m in messages] == [e.id for e in events]
    assert [m.event.type for m in messages] == [STOCK_RESERVED, STOCK_REJECTED, STOCK_REJECTED]
    assert len({m.event.id for m in messages}) == 3


def test_setting_stock_creates_a_sku() -> None:
    uow = FakeInventoryUnitOfWork()

    level = set_stock(SetStock("NEW", 7), uow)

    assert level == StockLevel("NEW", 7, reserved=0)
    assert uow.stock.levels == {"NEW": StockLevel("NEW", 7, reserved=0)}


def test_setting_stock_of_a_sku_changes_what_is_available_and_keeps_what_is_reserved() -> None:
    uow = FakeInventoryUnitOfWork(StockLevel("A", 10))
    reserve_stock([order_placed([("A", 4)])], uow)

    level = set_stock(SetStock("A", 20), uow)

    assert level == StockLevel("A", 20, reserved=4)
    assert uow.stock.levels["A"] == StockLevel("A", 20, reserved=4)


def test_inventory_takes_order_placed_from_its_queue_with_reserve_stock() -> None:
    subscription = Subscription.of(INVENTORY_ORDER_EVENTS, HANDLERS)

    assert {t: h.apply for t, h in subscription.handlers.items()} == {
        OrderPlacedV2.event_type: reserve_stock
    }
