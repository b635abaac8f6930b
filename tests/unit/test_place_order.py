from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from order_service.domain.model import Order, OrderLine
from order_service.handlers import PlaceOrder, order_placed
from shared.contract import events as contracts
from shared.contract.envelope import decode, encode
from shared.contract.events import ORDER_PLACED, ORDER_SOURCE, SCHEMAS, OrderPlacedV1, OrderPlacedV2


def a_command(**overrides: Any) -> PlaceOrder:
    command = PlaceOrder(
        customer_id="c-42",
        email="ada@example.com",
        items=[OrderLine("A", 1), OrderLine("B", 2)],
        idempotency_key="key-1",
    )
    return replace(command, **overrides)


def test_equal_content_has_an_equal_fingerprint() -> None:
    assert a_command().fingerprint == a_command().fingerprint


def test_the_idempotency_key_is_not_part_of_the_fingerprint() -> None:
    assert a_command(idempotency_key="key-2").fingerprint == a_command().fingerprint


@pytest.mark.parametrize(
    "change",
    [
        {"customer_id": "c-43"},
        {"email": "bob@example.com"},
        {"email": None},
        {"items": [OrderLine("X", 1), OrderLine("B", 2)]},
        {"items": [OrderLine("A", 9), OrderLine("B", 2)]},
        {"items": [OrderLine("B", 2), OrderLine("A", 1)]},
        {"items": [OrderLine("A", 1)]},
    ],
    ids=["customer", "email", "no-email", "sku", "quantity", "line-order", "fewer-lines"],
)
def test_any_change_of_content_changes_the_fingerprint(change: dict[str, Any]) -> None:
    assert a_command(**change).fingerprint != a_command().fingerprint


def test_fields_cannot_bleed_into_each_other_in_the_fingerprint() -> None:
    split_one_way = a_command(customer_id="a", email="bc")
    split_another_way = a_command(customer_id="ab", email="c")

    assert split_one_way.fingerprint != split_another_way.fingerprint


def an_order() -> Order:
    return Order(
        customer_id="c-42",
        email=None,
        items=[OrderLine("A", 1), OrderLine("B", 2)],
        created_at=datetime(2024, 5, 6, tzinfo=UTC),
    )


def test_order_placed_is_a_version_2_event_from_the_order_service_naming_its_schema() -> None:
    event = order_placed(an_order())

    assert event.specversion == "1.0"
    assert event.type == ORDER_PLACED
    assert event.source == ORDER_SOURCE
    assert event.dataversion == "2"
    assert event.dataschema == "urn:rabbit-orders:schema:OrderPlaced:2"
    assert event.correlation_id == event.id


def test_order_placed_can_be_published_as_version_1_for_old_consumers() -> None:
    order = an_order()

    event = order_placed(order, version=1)

    assert (event.dataversion, event.dataschema) == ("1", "urn:rabbit-orders:schema:OrderPlaced:1")
    assert SCHEMAS.parse(event) == OrderPlacedV1(
        order_id=order.id,
        customer_id="c-42",
        email=None,
        items=[contracts.OrderLine(sku="A", quantity=1), contracts.OrderLine(sku="B", quantity=2)],
    )


def test_a_priced_order_carries_its_prices_currency_and_total() -> None:
    order = replace(
        an_order(),
        items=[OrderLine("A", 1, Decimal("9.99")), OrderLine("B", 2, Decimal("0.5"))],
        currency="EUR",
    )

    data = SCHEMAS.parse(order_placed(order))

    assert isinstance(data, OrderPlacedV2)
    assert [line.unit_price for line in data.items] == ["9.99", "0.5"]
    assert (data.currency, data.total) == ("EUR", "10.99")


def test_an_order_with_an_unpriced_line_has_no_total() -> None:
    order = replace(
        an_order(), items=[OrderLine("A", 1, Decimal("9.99")), OrderLine("B", 2)], currency="EUR"
    )

    data = SCHEMAS.parse(order_placed(order))

    assert isinstance(data, OrderPlacedV2)
    assert [line.unit_price for line in data.items] == ["9.99", None]
    assert (data.currency, data.total) == (None, None)


def test_order_placed_data_parses_with_the_contract_schema() -> None:
    order = an_order()

    data = SCHEMAS.parse(decode(encode(order_placed(order))))

    assert data == OrderPlacedV2(
        order_id=order.id,
        customer_id="c-42",
        email=None,
        items=[
            contracts.PricedOrderLine(sku="A", quantity=1),
            contracts.PricedOrderLine(sku="B", quantity=2),
        ],
    )
