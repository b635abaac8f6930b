from typing import Any
from uuid import UUID

import pytest

from shared.contract.envelope import CloudEvent, InvalidMessage
from shared.contract.events import (
    ORDER_PLACED,
    SCHEMAS,
    STOCK_REJECTED,
    STOCK_RESERVED,
    OrderLine,
    OrderPlacedV1,
    StockRejectedV1,
    StockReservedV1,
)

ORDER_ID = "6f1c2a9e-0a43-4c59-9d0e-6d6a3f0b8a11"


def event_of(type: str, data: Any, dataversion: str = "1") -> CloudEvent:
    return CloudEvent(
        specversion="1.0",
        id="evt-1",
        source="/test",
        type=type,
        dataversion=dataversion,
        data=data,
    )


def order_placed_data(**overrides: Any) -> dict[str, Any]:
    return {
        "order_id": ORDER_ID,
        "customer_id": "c-42",
        "email": "ada@example.com",
        "items": [{"sku": "SKU-1", "quantity": 2}, {"sku": "sku_2.b", "quantity": 1}],
        **overrides,
    }


def test_order_placed_v1_is_parsed_into_its_model() -> None:
    parsed = SCHEMAS.parse(event_of(ORDER_PLACED, order_placed_data()))

    assert parsed == OrderPlacedV1(
        order_id=UUID(ORDER_ID),
        customer_id="c-42",
        email="ada@example.com",
        items=[OrderLine(sku="SKU-1", quantity=2), OrderLine(sku="sku_2.b", quantity=1)],
    )


def test_order_placed_email_is_optional() -> None:
    data = order_placed_data()
    del data["email"]

    parsed = SCHEMAS.parse(event_of(ORDER_PLACED, data))

    assert isinstance(parsed, OrderPlacedV1)
    assert parsed.email is None


def test_stock_reserved_is_parsed_into_its_model() -> None:
    data = {"order_id": ORDER_ID, "items": [{"sku": "SKU-1", "quantity": 2}]}

    parsed = SCHEMAS.parse(event_of(STOCK_RESERVED, data))

    assert parsed == StockReservedV1(
        order_id=UUID(ORDER_ID), items=[OrderLine(sku="SKU-1", quantity=2)]
    )


def test_stock_rejected_is_parsed_with_its_reason() -> None:
    data = {
        "order_id": ORDER_ID,
        "items": [{"sku": "SKU-1", "quantity": 2}],
        "reason": "unknown sku: SKU-1",
    }

    parsed = SCHEMAS.parse(event_of(STOCK_REJECTED, data))

    assert isinstance(parsed, StockRejectedV1)
    assert parsed.reason == "unknown sku: SKU-1"


def test_unknown_fields_of_order_placed_are_ignored() -> None:
    data = order_placed_data(channel="web", items=[{"sku": "A", "quantity": 1, "price": "9.99"}])

    parsed = SCHEMAS.parse(event_of(ORDER_PLACED, data))

    assert parsed.model_dump(mode="json") == {
        "order_id": ORDER_ID,
        "customer_id": "c-42",
        "email": "ada@example.com",
        "items": [{"sku": "A", "quantity": 1}],
    }


@pytest.mark.parametrize(
    ("event_type", "extra"),
    [(STOCK_RESERVED, {"warehouse": "north"}), (STOCK_REJECTED, {"reason": "no", "retry": False})],
)
def test_unknown_fields_of_stock_outcomes_are_ignored(
    event_type: str, extra: dict[str, Any]
) -> None:
    data = {"order_id": ORDER_ID, "items": [{"sku": "A", "quantity": 1, "bin": 7}], **extra}

    dumped = SCHEMAS.parse(event_of(event_type, data)).model_dump(mode="json")

    assert dumped["order_id"] == ORDER_ID
    assert dumped["items"] == [{"sku": "A", "quantity": 1}]
    assert "warehouse" not in dumped
    assert "retry" not in dumped


@pytest.mark.parametrize("quantity", [1, 10_000])
def test_quantity_limits_are_inclusive(quantity: int) -> None:
    data = order_placed_data(items=[{"sku": "A", "quantity": quantity}])

    parsed = SCHEMAS.parse(event_of(ORDER_PLACED, data))

    assert isinstance(parsed, OrderPlacedV1)
    assert parsed.items[0].quantity == quantity


def test_an_order_of_100_lines_is_valid() -> None:
    items = [{"sku": f"SKU-{n}", "quantity": 1} for n in range(100)]

    parsed = SCHEMAS.parse(event_of(ORDER_PLACED, order_placed_data(items=items)))

    assert isinstance(parsed, OrderPlacedV1)
    assert len(parsed.items) == 100


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (order_placed_data(items=[{"sku": "A", "quantity": 0}]), "items.0.quantity"),
        (order_placed_data(items=[{"sku": "A", "quantity": 10_001}]), "items.0.quantity"),
        (order_placed_data(items=[]), "items: List should have at least 1 item"),
        (
            order_placed_data(items=[{"sku": f"S{n}", "quantity": 1} for n in range(101)]),
            "items: List should have at most 100 items",
        ),
        ({k: v for k, v in order_placed_data().items() if k != "order_id"}, "order_id: Field"),
        (order_placed_data(order_id="order-1"), "order_id"),
        (order_placed_data(customer_id=""), "customer_id"),
        (order_placed_data(items=[{"sku": "", "quantity": 1}]), "items.0.sku"),
        (order_placed_data(items=[{"sku": "-leading-dash", "quantity": 1}]), "items.0.sku"),
        (order_placed_data(items=[{"sku": "has space", "quantity": 1}]), "items.0.sku"),
        (order_placed_data(items=[{"sku": "A" * 65, "quantity": 1}]), "items.0.sku"),
        (order_placed_data(items=[{"sku": "A"}]), "items.0.quantity: Field required"),
    ],
    ids=[
        "zero-quantity",
        "quantity-over-10000",
        "no-lines",
        "101-lines",
        "missing-order-id",
        "order-id-not-uuid",
        "empty-customer",
        "empty-sku",
        "sku-leading-dash",
        "sku-with-space",
        "sku-too-long",
        "line-without-quantity",
    ],
)
def test_invalid_order_placed_data_is_rejected_naming_the_problem(
    data: dict[str, Any], problem: str
) -> None:
    with pytest.raises(InvalidMessage, match="OrderPlaced v1 data is invalid") as caught:
        SCHEMAS.parse(event_of(ORDER_PLACED, data))

    assert problem in str(caught.value)


def test_stock_rejected_without_a_reason_is_rejected() -> None:
    data = {"order_id": ORDER_ID, "items": []}

    with pytest.raises(InvalidMessage, match="reason: Field required"):
        SCHEMAS.parse(event_of(STOCK_REJECTED, data))


def test_data_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(InvalidMessage, match="StockReserved v1 data is invalid"):
        SCHEMAS.parse(event_of(STOCK_RESERVED, [ORDER_ID]))


def test_an_unknown_dataversion_is_rejected_naming_type_and_version() -> None:
    with pytest.raises(InvalidMessage, match="no schema for OrderPlaced dataversion '99'"):
        SCHEMAS.parse(event_of(ORDER_PLACED, order_placed_data(), dataversion="99"))


def test_an_unknown_event_type_is_rejected() -> None:
    with pytest.raises(InvalidMessage, match="no schema for OrderShipped"):
        SCHEMAS.parse(event_of("OrderShipped", order_placed_data()))


def test_the_registry_knows_the_contract_event_types_only() -> None:
    assert SCHEMAS.knows(ORDER_PLACED)
    assert SCHEMAS.knows(STOCK_RESERVED)
    assert SCHEMAS.knows(STOCK_REJECTED)
    assert not SCHEMAS.knows("OrderShipped")
