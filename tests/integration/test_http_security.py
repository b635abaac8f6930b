"""Hostile input against services with a real broker and database: an order with one sku on
two lines is refused at the API, and settles (REJECTED, with the reason) when another
producer's OrderPlaced brings it anyway; a validation error in a handler is dead-lettered at
once; a NUL in a customer id is a 422, not a 500 from PostgreSQL; the admin token guards
stock writes and the order listing, not the reading of one order."""

import uuid
from collections.abc import Awaitable, Callable

import pytest
from pydantic import BaseModel, Field
from sqlalchemy import MetaData

from inventory_service.config import InventorySettings
from inventory_service.entrypoints.app import create_app as inventory_app
from order_service import handlers as order_handlers
from order_service.config import OrderSettings
from order_service.domain.model import OrderLine
from order_service.entrypoints.app import create_app as order_app
from shared.contract import events as contracts
from shared.contract.topology import INVENTORY_ORDER_EVENTS, ORDER_EVENTS
from shared.core.handlers import Event, Subscription, handles, one_at_a_time
from shared.persistence.inbox import inbox_table
from shared.persistence.unit_of_work import SqlUnitOfWork
from shared.process.runtime import Runtime
from tests import factories
from tests.support.broker import BrokerProbe
from tests.support.polling import eventually
from tests.support.services import get_json, running

DatabaseUrl = Callable[[str], Awaitable[str]]
TWO_LINES_OF_ONE_SKU = [("SKU-1", 6000), ("SKU-1", 6000)]


async def test_an_order_with_one_sku_on_two_lines_is_refused_or_else_settles_rejected(
    broker_url: str, database_url: DatabaseUrl
) -> None:
    orders = order_app(OrderSettings(amqp_url=broker_url, database_url=await database_url("order")))
    inventory = inventory_app(
        InventorySettings(amqp_url=broker_url, database_url=await database_url("inventory"))
    )
    async with (
        BrokerProbe(broker_url) as probe,
        running(orders) as (_, order_http),
        running(inventory) as (_, inventory_http),
    ):
        await inventory_http.put("/stock/SKU-1", json={"available": 20_000})
        refused = await order_http.post(
            "/orders",
            json={
                "customer_id": "c-1",
                "items": [{"sku": sku, "quantity": n} for sku, n in TWO_LINES_OF_ONE_SKU],
            },
        )
        assert refused.status_code == 422, refused.text
        assert "SKU-1 on more than one line" in refused.json()["message"]
        assert await get_json(order_http, "/orders") == []

        # What the API refuses, another trusted producer (or an older version of ours) may
        # still place: the order service's own intake, past the HTTP checks.
        placed, _ = await orders.state.intake.submit(
            order_handlers.PlaceOrder(
                customer_id="c-1",
                email=None,
                items=[OrderLine(sku, n) for sku, n in TWO_LINES_OF_ONE_SKU],
            )
        )
        settled = await eventually(
            lambda: get_json(order_http, f"/orders/{placed.id}"),
            lambda order: order["status"] != "PENDING",
            timeout=20,
            what="the order settled",
        )

        assert settled["status"] == "REJECTED"
        assert settled["rejection_reason"] == (
            "over the limit of 10000 per sku: SKU-1 (12000 on 2 lines)"
        )
        assert await get_json(inventory_http, "/stock/SKU-1") == {
            "sku": "SKU-1",
            "available": 20_000,
            "reserved": 0,
        }
        assert await probe.drain(INVENTORY_ORDER_EVENTS.dead_letter_queue) == []


class Limited(BaseModel):
    quantity: int = Field(le=10)


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
async def test_a_validation_error_in_a_handler_is_dead_lettered_at_once(
    broker_url: str, database_url: DatabaseUrl
) -> None:
    calls: list[str] = []

    def strict(event: Event[contracts.OrderPlacedV1], uow: SqlUnitOfWork) -> None:
        calls.append(event.id)
        Limited(quantity=event.data.items[0].quantity)

    metadata = MetaData()
    inbox = inbox_table(metadata)
    runtime = Runtime(
        InventorySettings(
            amqp_url=broker_url,
            database_url=await database_url("inventory"),
            retry_delays=(0.2, 0.2, 0.2),
        ),
        metadata,
        unit_of_work=lambda conn: SqlUnitOfWork(conn, inbox),
        subscriptions=[
            Subscription.of(
                INVENTORY_ORDER_EVENTS, [handles(contracts.OrderPlacedV1, one_at_a_time(strict))]
            )
        ],
    )
    event = factories.order_placed([("SKU-1", 11)])
    await runtime.start()
    try:
        async with BrokerProbe(broker_url) as probe:
            await eventually(runtime.readiness, lambda checks: all(checks.values()))
            await probe.publish(ORDER_EVENTS, factories.body(event), **factories.properties(event))
            (letter,) = await probe.collect(INVENTORY_ORDER_EVENTS.dead_letter_queue, 1)
    finally:
        await runtime.stop()

    assert letter.message_id == event.id
    assert letter.headers["x-attempts"] == 1
    assert letter.headers["x-error-type"] == "ValidationError"
    assert calls == [event.id], "not retried"


@pytest.mark.parametrize("field", ["customer_id", "email"])
async def test_a_nul_in_customer_id_or_email_is_refused_with_422_and_nothing_is_stored(
    broker_url: str, database_url: DatabaseUrl, field: str
) -> None:
    settings = OrderSettings(amqp_url=broker_url, database_url=await database_url("order"))
    body = {
        "customer_id": "c-1",
        "email": "ada@example.com",
        "items": [{"sku": "A", "quantity": 1}],
    }
    async with running(order_app(settings)) as (_, http):
        refused = await http.post("/orders", json={**body, field: "ada\x00@example.com"})
        accepted = await http.post("/orders", json=body)

        assert refused.status_code == 422, refused.text
        assert "control characters" in refused.json()["message"]
        assert accepted.status_code == 202, accepted.text
        assert [o["id"] for o in await get_json(http, "/orders")] == [accepted.json()["id"]]


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
async def test_stock_writes_and_the_order_listing_need_the_token_and_one_order_does_not(
    broker_url: str, database_url: DatabaseUrl
) -> None:
    token = "s3cret"
    orders = order_app(
        OrderSettings(
            amqp_url=broker_url, database_url=await database_url("order"), admin_token=token
        )
    )
    inventory = inventory_app(
        InventorySettings(
            amqp_url=broker_url, database_url=await database_url("inventory"), admin_token=token
        )
    )
    async with running(orders) as (_, order_http), running(inventory) as (_, inventory_http):
        anonymous = await inventory_http.put("/stock/SKU-1", json={"available": 5})
        lower_case = await inventory_http.put(
            "/stock/SKU-1", json={"available": 5}, headers={"Authorization": f"bearer {token}"}
        )
        placed = await order_http.post(
            "/orders", json={"customer_id": "c-1", "items": [{"sku": "SKU-1", "quantity": 1}]}
        )
        listing_anonymous = await order_http.get("/orders")
        listing = await order_http.get("/orders", headers={"Authorization": f"Bearer {token}"})
        one = await order_http.get(f"/orders/{placed.json()['id']}")
        unknown = await order_http.get(f"/orders/{uuid.uuid4()}")

    assert anonymous.status_code == listing_anonymous.status_code == 401
    assert anonymous.json()["message"] == listing_anonymous.json()["message"]
    assert lower_case.status_code == 200, lower_case.text
    assert lower_case.json() == {"sku": "SKU-1", "available": 5, "reserved": 0}
    assert placed.status_code == 202
    assert listing.status_code == 200
    assert [o["id"] for o in listing.json()] == [placed.json()["id"]]
    assert one.status_code == 200
    assert unknown.status_code == 404 and "not found" in unknown.json()["message"]


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
async def test_an_idempotency_conflict_is_409_with_a_message(
    broker_url: str, database_url: DatabaseUrl
) -> None:
    settings = OrderSettings(amqp_url=broker_url, database_url=await database_url("order"))
    key = {"Idempotency-Key": "k-1"}
    async with running(order_app(settings)) as (_, http):
        first = await http.post(
            "/orders",
            json={"customer_id": "c", "items": [{"sku": "A", "quantity": 1}]},
            headers=key,
        )
        other = await http.post(
            "/orders",
            json={"customer_id": "c", "items": [{"sku": "A", "quantity": 2}]},
            headers=key,
        )

    assert first.status_code == 202
    assert other.status_code == 409
    assert other.json() == {"message": "Idempotency-Key 'k-1' was already used for another order"}
