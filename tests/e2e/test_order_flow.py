"""The whole system as a user runs it: three service processes, one broker, orders over
HTTP, outcomes checked through the public APIs only."""

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from shared.contract.topology import ORDER_EVENTS
from tests.support.broker import BrokerProbe, take_all
from tests.support.polling import eventually
from tests.support.processes import ServiceProcess, stop_all
from tests.support.services import get_json

DatabaseUrl = Callable[[str], Awaitable[str]]
STOCK = {"SKU-A": 60, "SKU-B": 25, "SKU-C": 3}


@pytest.fixture
async def system(
    broker_url: str, database_url: DatabaseUrl, tmp_path: Path
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    services = [
        ServiceProcess(
            name,
            {
                "AMQP_URL": broker_url,
                "DATABASE_URL": await database_url(name),
                "RETRY_DELAYS": "0.2,0.5,1",
            },
            tmp_path,
        ).start()
        for name in ("order", "inventory", "notification")
    ]
    clients = {s.name: httpx.AsyncClient(base_url=s.url, timeout=10) for s in services}
    try:
        await asyncio.gather(*(s.wait_ready() for s in services))
        yield clients
    finally:
        for client in clients.values():
            await client.aclose()
        stop_all(services)
        for service in services:
            assert service.stopped_cleanly(), service.log()


def order_mix(rng: random.Random) -> list[tuple[dict[str, Any], str]]:
    """50 orders whose outcomes do not depend on the order they are processed in: those
    meant to succeed fit in stock together; those meant to fail could never fit."""
    orders: list[tuple[dict[str, Any], str]] = []
    for n in range(30):  # 30 x (1..2 A + maybe 1 B) <= 60 A, 25 B
        items = [{"sku": "SKU-A", "quantity": rng.randint(1, 2)}]
        if n % 2:
            items.append({"sku": "SKU-B", "quantity": 1})
        rng.shuffle(items)
        orders.append(
            (
                {"customer_id": f"c-{n}", "email": f"c{n}@example.com", "items": items},
                "CONFIRMED",
            )
        )
    for n in range(10):  # more SKU-C than there will ever be, with lines that would fit
        orders.append(
            (
                {
                    "customer_id": f"short-{n}",
                    "items": [
                        {"sku": "SKU-A", "quantity": 1},
                        {"sku": "SKU-C", "quantity": 4},
                    ],
                },
                "REJECTED",
            )
        )
    for n in range(10):
        orders.append(
            (
                {
                    "customer_id": f"unknown-{n}",
                    "items": [
                        {"sku": "SKU-B", "quantity": 1},
                        {"sku": "NO-SUCH-SKU", "quantity": 1},
                    ],
                },
                "REJECTED",
            )
        )
    rng.shuffle(orders)
    return orders


async def test_fifty_orders_end_in_the_right_state_with_exact_stock_and_notifications(
    system: dict[str, httpx.AsyncClient], broker_url: str
) -> None:
    orders, inventory, notifications = (
        system["order"],
        system["inventory"],
        system["notification"],
    )
    for sku, available in STOCK.items():
        assert (
            await inventory.put(f"/stock/{sku}", json={"available": available})
        ).status_code == 200
    mix = order_mix(random.Random(2))

    async with BrokerProbe(broker_url) as probe:
        placed_events = await probe.tap(ORDER_EVENTS)
        responses = await asyncio.gather(*(orders.post("/orders", json=body) for body, _ in mix))
        assert [r.status_code for r in responses] == [202] * len(mix)
        replay = await orders.post("/orders", json=mix[0][0], headers={"Idempotency-Key": "k-1"})
        again = await orders.post("/orders", json=mix[0][0], headers={"Idempotency-Key": "k-1"})
        assert replay.status_code == again.status_code == 202
        assert again.json()["id"] == replay.json()["id"]
        assert again.headers["Idempotent-Replayed"] == "true"
        ids = [r.json()["id"] for r in responses] + [replay.json()["id"]]
        expected = {r.json()["id"]: outcome for r, (_, outcome) in zip(responses, mix, strict=True)}
        expected[replay.json()["id"]] = mix[0][1]
        assert all(r.headers["Location"] == f"/orders/{r.json()['id']}" for r in responses)

        final = await eventually(
            lambda: get_json(orders, "/orders?limit=1000"),
            lambda found: len(found) == len(ids) and all(o["status"] != "PENDING" for o in found),
            timeout=60,
            what="every order settled",
        )
        placed: list[Any] = []

        async def placed_so_far() -> int:
            placed.extend(orjson.loads(m.body) for m in await take_all(placed_events))
            return len(placed)

        await eventually(placed_so_far, lambda n: n >= len(ids))

    assert {o["id"]: o["status"] for o in final} == expected
    for order in final:
        if order["status"] == "REJECTED":
            assert (
                "SKU-C" in order["rejection_reason"] or "NO-SUCH-SKU" in order["rejection_reason"]
            )
    assert sorted(e["data"]["order_id"] for e in placed) == sorted(ids), "one OrderPlaced each"

    reserved = Counter()
    for order in final:
        if order["status"] == "CONFIRMED":
            for item in order["items"]:
                reserved[item["sku"]] += item["quantity"]
    stock = {s["sku"]: s for s in await get_json(inventory, "/stock")}
    for sku, initial in STOCK.items():
        assert stock[sku] == {
            "sku": sku,
            "available": initial - reserved[sku],
            "reserved": reserved[sku],
        }

    sent = await eventually(
        lambda: get_json(notifications, "/notifications?limit=1000"),
        lambda found: len(found) == 2 * len(ids) and all(n["status"] == "sent" for n in found),
        timeout=30,
        what="two sent notifications per order",
    )
    kinds = Counter((n["order_id"], n["kind"]) for n in sent)
    assert max(kinds.values()) == 1, "exactly one notification per (order, kind)"
    outcome_kind = {"CONFIRMED": "order-confirmed", "REJECTED": "order-rejected"}
    assert set(kinds) == {(i, "order-received") for i in ids} | {
        (i, outcome_kind[status]) for i, status in expected.items()
    }
    one = await get_json(notifications, f"/notifications?order_id={ids[0]}")
    assert {n["kind"] for n in one} == {
        "order-received",
        outcome_kind[expected[ids[0]]],
    }


BAD_BODIES = [
    ({"customer_id": "c", "items": []}, "items"),
    ({"customer_id": "c", "items": [{"sku": "SKU-A", "quantity": 0}]}, "quantity"),
    ({"customer_id": "c", "items": [{"sku": "SKU-A", "quantity": 10_001}]}, "quantity"),
    ({"customer_id": "c", "items": [{"sku": "SKU-A", "quantity": 1}] * 101}, "items"),
    ({"customer_id": "", "items": [{"sku": "SKU-A", "quantity": 1}]}, "customer_id"),
    ({"items": [{"sku": "SKU-A", "quantity": 1}]}, "customer_id"),
    (
        {
            "customer_id": "c",
            "email": "not-an-email",
            "items": [{"sku": "A", "quantity": 1}],
        },
        "email",
    ),
    ({"customer_id": "c", "items": [{"sku": "", "quantity": 1}]}, "sku"),
    ({"customer_id": "c", "items": [{"sku": "SKU-A", "quantity": "many"}]}, "quantity"),
    ({"customer_id": "c", "items": [{"sku": "SKU-A"}]}, "quantity"),
    # Strict: a quantity is a JSON integer.
    ({"customer_id": "c", "items": [{"sku": "SKU-A", "quantity": "3"}]}, "quantity"),
    ({"customer_id": "c", "items": [{"sku": "SKU-A", "quantity": True}]}, "quantity"),
    ({"customer_id": "c", "items": [{"sku": "SKU-A", "quantity": 1.0}]}, "quantity"),
    # No control characters (a NUL could not be stored in PostgreSQL).
    (
        {"customer_id": "c\x00", "items": [{"sku": "SKU-A", "quantity": 1}]},
        "customer_id",
    ),
    (
        {
            "customer_id": "c",
            "email": "a\x00@example.com",
            "items": [{"sku": "A", "quantity": 1}],
        },
        "email",
    ),
    # One line per sku: these two could never be reserved as one line.
    (
        {
            "customer_id": "c",
            "items": [
                {"sku": "SKU-A", "quantity": 6000},
                {"sku": "SKU-A", "quantity": 6000},
            ],
        },
        "SKU-A on more than one line",
    ),
]


async def test_bad_bodies_get_422_with_a_reason_and_publish_nothing(
    system: dict[str, httpx.AsyncClient], broker_url: str
) -> None:
    orders = system["order"]
    async with BrokerProbe(broker_url) as probe:
        placed_events = await probe.tap(ORDER_EVENTS)
        for body, field in BAD_BODIES:
            response = await orders.post("/orders", json=body)
            assert response.status_code == 422, body
            assert field in response.json()["message"], response.json()
        not_json = await orders.post(
            "/orders", content=b"{oops", headers={"content-type": "application/json"}
        )
        assert not_json.status_code == 422
        # A good order afterwards proves the tap works: it is the only event that arrives.
        good = await orders.post(
            "/orders",
            json={"customer_id": "c", "items": [{"sku": "SKU-A", "quantity": 1}]},
        )
        assert good.status_code == 202
        arrived: list[Any] = []

        async def arrived_so_far() -> int:
            arrived.extend(orjson.loads(m.body) for m in await take_all(placed_events))
            return len(arrived)

        await eventually(arrived_so_far, lambda n: n >= 1)
    assert [e["data"]["order_id"] for e in arrived] == [good.json()["id"]]
    assert [o["id"] for o in await get_json(orders, "/orders")] == [good.json()["id"]]
    missing = await orders.get("/orders/3f1c0c52-4d8e-4d43-9a4c-2c1b1c0d9e11")
    assert missing.status_code == 404
