"""Orders placed concurrently are committed together (group commit) and each request gets
its own answer: its order, the first order for a repeated Idempotency-Key, or a 409."""

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

import orjson

from order_service.config import OrderSettings
from order_service.entrypoints.app import create_app
from shared.contract.topology import ORDER_EVENTS
from tests.support.broker import BrokerProbe, take_all
from tests.support.polling import eventually
from tests.support.services import get_json, running

DatabaseUrl = Callable[[str], Awaitable[str]]


def body(customer: str, quantity: int = 1) -> dict[str, object]:
    return {"customer_id": customer, "items": [{"sku": "SKU-1", "quantity": quantity}]}


async def test_concurrent_orders_and_repeated_keys_each_get_the_right_answer(
    broker_url: str, database_url: DatabaseUrl
) -> None:
    settings = OrderSettings(amqp_url=broker_url, database_url=await database_url("order"))
    async with BrokerProbe(broker_url) as probe, running(create_app(settings)) as (_, http):
        placed = await probe.tap(ORDER_EVENTS)
        plain = [http.post("/orders", json=body(f"c-{n}")) for n in range(60)]
        same_key = [
            http.post("/orders", json=body("k"), headers={"Idempotency-Key": "key-1"})
            for _ in range(20)
        ]
        other_body = [
            http.post("/orders", json=body("k", quantity=2), headers={"Idempotency-Key": "key-1"})
            for _ in range(5)
        ]
        responses = await asyncio.gather(*plain, *same_key, *other_body)
        plain_r, same_r, other_r = responses[:60], responses[60:80], responses[80:]

        assert [r.status_code for r in plain_r] == [202] * 60
        assert len({r.json()["id"] for r in plain_r}) == 60
        # Whichever body got to key-1 first owns it: the others with that body get its
        # order back, the rest a 409.
        winners = [r for r in same_r + other_r if r.status_code == 202]
        assert len({r.json()["id"] for r in winners}) == 1
        owner_quantity = winners[0].json()["items"][0]["quantity"]
        for r in same_r + other_r:
            sent_quantity = 1 if r in same_r else 2
            assert r.status_code == (202 if sent_quantity == owner_quantity else 409), r.text
        assert (
            sum(r.headers.get("Idempotent-Replayed") == "true" for r in winners) == len(winners) - 1
        )

        stored = await get_json(http, "/orders?limit=1000")
        assert len(stored) == 61
        events: list[dict[str, object]] = []

        async def arrived() -> int:
            events.extend(orjson.loads(m.body) for m in await take_all(placed))
            return len(events)

        await eventually(arrived, lambda n: n >= 61)
        await asyncio.sleep(0.3)
        events.extend(orjson.loads(m.body) for m in await take_all(placed))
    by_order = Counter(e["data"]["order_id"] for e in events)  # type: ignore[index]
    assert set(by_order) == {o["id"] for o in stored}
    assert max(by_order.values()) == 1, "one OrderPlaced per order, none for a replay"
