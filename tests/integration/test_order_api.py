"""The order service's HTTP contract: GET /orders lists the newest first, `status` keeps the
orders of exactly that status, `limit` is 1 to 1000; an order beyond the line and quantity
limits gets 422 and is neither stored nor published. (No ADMIN_TOKEN is set: these hold
whether or not reading the orders needs it.)"""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import UUID

import httpx
import orjson
import pytest

from order_service.config import OrderSettings
from order_service.entrypoints.app import create_app
from shared.contract import events as contracts
from shared.contract.envelope import CloudEvent, new_event
from shared.contract.topology import INVENTORY_EVENTS, ORDER_EVENTS
from tests import factories
from tests.support.broker import BrokerProbe, take_all
from tests.support.polling import eventually
from tests.support.services import get_json, running

DatabaseUrl = Callable[[str], Awaitable[str]]


@pytest.fixture
async def orders(
    broker_url: str, database_url: DatabaseUrl
) -> AsyncIterator[tuple[httpx.AsyncClient, BrokerProbe]]:
    settings = OrderSettings(amqp_url=broker_url, database_url=await database_url("order"))
    async with BrokerProbe(broker_url) as probe, running(create_app(settings)) as (_, http):
        yield http, probe


def order(customer: str, items: list[tuple[str, int]] | None = None) -> dict[str, Any]:
    lines = items or [("SKU-1", 1)]
    return {"customer_id": customer, "items": [{"sku": s, "quantity": q} for s, q in lines]}


async def place(http: httpx.AsyncClient, body: dict[str, Any]) -> str:
    response = await http.post("/orders", json=body)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def stock_rejected(order_id: str) -> CloudEvent:
    return new_event(
        type=contracts.STOCK_REJECTED,
        source=contracts.INVENTORY_SOURCE,
        data=contracts.StockRejectedV1(order_id=UUID(order_id), items=[], reason="none left"),
    )


async def listed(http: httpx.AsyncClient, query: str = "") -> list[str]:
    return [o["id"] for o in await get_json(http, f"/orders{query}")]


async def test_orders_are_listed_newest_first_and_filtered_by_exact_status(
    orders: tuple[httpx.AsyncClient, BrokerProbe],
) -> None:
    http, probe = orders
    # One at a time, so each has its own transaction and its own creation time.
    first, second, third, fourth = [await place(http, order(f"c-{n}")) for n in range(4)]
    outcomes = [
        factories.stock_reserved(UUID(first), [("SKU-1", 1)]),
        stock_rejected(second),
        factories.stock_reserved(UUID(third), [("SKU-1", 1)]),
    ]
    for event in outcomes:
        await probe.publish(INVENTORY_EVENTS, factories.body(event), **factories.properties(event))
    await eventually(
        lambda: get_json(http, "/orders"),
        lambda found: sum(o["status"] != "PENDING" for o in found) == 3,
        what="three orders settled",
    )

    assert await listed(http) == [fourth, third, second, first]
    assert await listed(http, "?status=CONFIRMED") == [third, first]
    assert await listed(http, "?status=REJECTED") == [second]
    assert await listed(http, "?status=PENDING") == [fourth]
    assert await listed(http, "?status=CONFIRMED&limit=1") == [third]
    unknown = await http.get("/orders?status=SHIPPED")
    assert unknown.status_code == 422 and "status" in unknown.json()["message"]


async def test_the_order_list_takes_a_limit_of_1_to_1000(
    orders: tuple[httpx.AsyncClient, BrokerProbe],
) -> None:
    http, _ = orders
    placed = [await place(http, order(f"c-{n}")) for n in range(3)]

    assert await listed(http, "?limit=1") == [placed[-1]]
    assert await listed(http, "?limit=2") == placed[:0:-1]
    assert await listed(http, "?limit=1000") == placed[::-1]
    assert await listed(http) == placed[::-1]
    for refused in ("0", "1001", "-1", "many"):
        response = await http.get(f"/orders?limit={refused}")
        assert response.status_code == 422, (refused, response.text)
        assert "limit" in response.json()["message"]


async def test_an_order_beyond_the_limits_gets_422_and_is_neither_stored_nor_published(
    orders: tuple[httpx.AsyncClient, BrokerProbe],
) -> None:
    http, probe = orders
    placed_events = await probe.tap(ORDER_EVENTS)
    too_much = {
        "101 lines": (order("c", [(f"SKU-{n}", 1) for n in range(101)]), "items"),
        "quantity 10001": (order("c", [("SKU-1", 10_001)]), "quantity"),
        "quantity 0": (order("c", [("SKU-1", 0)]), "quantity"),
        "no lines": ({"customer_id": "c", "items": []}, "items"),
    }
    for name, (body, field) in too_much.items():
        response = await http.post("/orders", json=body)
        assert response.status_code == 422, (name, response.text)
        assert field in response.json()["message"], (name, response.json())
    # The limits themselves are accepted.
    accepted = [
        await place(http, order("c", [(f"SKU-{n}", 1) for n in range(100)])),
        await place(http, order("c", [("SKU-1", 10_000)])),
    ]

    published: list[dict[str, Any]] = []

    async def published_so_far() -> int:
        published.extend(orjson.loads(m.body) for m in await take_all(placed_events))
        return len(published)

    await eventually(published_so_far, lambda n: n >= len(accepted), what="accepted published")
    assert sorted(await listed(http)) == sorted(accepted)
    assert sorted(e["data"]["order_id"] for e in published) == sorted(accepted)
