"""Real inventory processes: one killed while it holds an unacknowledged message, and two
competing for one queue and one stock."""

import random
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import orjson

from shared.contract.topology import INVENTORY_EVENTS, INVENTORY_ORDER_EVENTS, ORDER_EVENTS
from tests import factories
from tests.support.broker import BrokerProbe, consumers_on, take_all, unacked_on
from tests.support.databases import holding_stock
from tests.support.metrics import metric
from tests.support.polling import eventually
from tests.support.processes import ServiceProcess
from tests.support.services import get_json

DatabaseUrl = Callable[[str], Awaitable[str]]


def inventory(broker_url: str, database_url: str, tmp_path: Path, **env: str) -> ServiceProcess:
    return ServiceProcess(
        "inventory",
        {"AMQP_URL": broker_url, "DATABASE_URL": database_url, "RETRY_DELAYS": "0.2,0.5", **env},
        tmp_path,
    )


async def test_consumer_killed_before_ack_gets_the_message_again_and_applies_it_once(
    broker_url: str, database_url: DatabaseUrl, db_kind: str, tmp_path: Path
) -> None:
    db = await database_url("inventory")
    first = inventory(broker_url, db, tmp_path).start()
    second = inventory(broker_url, db, tmp_path)
    try:
        await first.wait_ready()
        async with httpx.AsyncClient(base_url=first.url) as http:
            await http.put("/stock/SKU-1", json={"available": 10})
        async with BrokerProbe(broker_url) as probe:
            outcomes = await probe.tap(INVENTORY_EVENTS)
            event = factories.order_placed([("SKU-1", 3)])
            # Hold the stock so the consumer blocks mid-transaction with the message unacked.
            async with holding_stock(db, "SKU-1"):
                await probe.publish(
                    ORDER_EVENTS, factories.body(event), **factories.properties(event)
                )
                await eventually(
                    lambda: unacked_on(broker_url, INVENTORY_ORDER_EVENTS.name),
                    lambda n: n == 1,
                    what="message held unacked",
                )
                first.kill()

            second.start()
            await second.wait_ready()
            sentinel = factories.order_placed([("SKU-1", 1)])
            await probe.publish(
                ORDER_EVENTS, factories.body(sentinel), **factories.properties(sentinel)
            )
            seen: list[dict[str, object]] = []

            async def outcomes_so_far() -> list[dict[str, object]]:
                seen.extend(orjson.loads(m.body) for m in await take_all(outcomes))
                return seen

            await eventually(outcomes_so_far, lambda events: len(events) >= 2, what="both outcomes")
            async with httpx.AsyncClient(base_url=second.url) as http:
                stock = await get_json(http, "/stock/SKU-1")
    finally:
        first.stop()
        second.stop()

    by_order = Counter(str(e["data"]["order_id"]) for e in seen)  # type: ignore[index]
    assert by_order == {str(event.data["order_id"]): 1, str(sentinel.data["order_id"]): 1}
    assert {e["type"] for e in seen} == {"StockReserved"}
    assert stock == {"sku": "SKU-1", "available": 6, "reserved": 4}


async def test_two_consumers_on_one_queue_never_oversell(
    broker_url: str, database_url: DatabaseUrl, tmp_path: Path
) -> None:
    db = await database_url("inventory")
    env = {"PREFETCH_COUNT": "4", "CONSUMER_BATCH_SIZE": "4"}
    processes = [inventory(broker_url, db, tmp_path, **env).start() for _ in range(2)]
    rng = random.Random(7)
    only_a = [factories.order_placed([("SKU-A", 1)]) for _ in range(40)]
    a_and_b = [
        factories.order_placed(
            rng.choice([[("SKU-A", 1), ("SKU-B", 1)], [("SKU-B", 1), ("SKU-A", 1)]])
        )
        for _ in range(20)
    ]
    orders = only_a + a_and_b
    rng.shuffle(orders)
    try:
        for process in processes:
            await process.wait_ready()
        async with httpx.AsyncClient(base_url=processes[0].url) as http:
            await http.put("/stock/SKU-A", json={"available": 25})
            await http.put("/stock/SKU-B", json={"available": 10})
        await eventually(
            lambda: consumers_on(broker_url, INVENTORY_ORDER_EVENTS.name),
            lambda n: n == 2,
            what="both processes consuming",
        )
        async with BrokerProbe(broker_url) as probe:
            outcomes = await probe.tap(INVENTORY_EVENTS)
            for event in orders:
                await probe.publish(
                    ORDER_EVENTS, factories.body(event), **factories.properties(event)
                )
            seen: list[dict[str, object]] = []

            async def outcomes_so_far() -> int:
                seen.extend(orjson.loads(m.body) for m in await take_all(outcomes))
                return len(seen)

            await eventually(
                outcomes_so_far,
                lambda n: n >= len(orders),
                timeout=60,
                what="an outcome for every order",
            )
        async with httpx.AsyncClient(base_url=processes[1].url) as http:
            stock = {s["sku"]: s for s in await get_json(http, "/stock")}
            # Each process's own account of the effects it committed (one per event).
            applied = [
                await metric(http, p.url, "message_critical_time_seconds_count") for p in processes
            ]
    finally:
        for process in processes:
            process.stop()

    assert all(n > 0 for n in applied), f"both competing consumers applied work: {applied}"
    assert sum(applied) == len(orders)
    assert Counter(str(e["data"]["order_id"]) for e in seen).most_common(1)[0][1] == 1  # type: ignore[index]
    assert {str(e["data"]["order_id"]) for e in seen} == {str(o.data["order_id"]) for o in orders}  # type: ignore[index]
    reserved = Counter()
    for e in seen:
        if e["type"] == "StockReserved":
            for item in e["data"]["items"]:  # type: ignore[index]
                reserved[item["sku"]] += item["quantity"]
    # 40 orders want one SKU-A each on their own: more than the 25 there are, so all go.
    assert stock["SKU-A"] == {"sku": "SKU-A", "available": 0, "reserved": 25}
    assert reserved["SKU-A"] == 25
    assert stock["SKU-B"]["available"] + stock["SKU-B"]["reserved"] == 10
    assert stock["SKU-B"]["reserved"] == reserved["SKU-B"]
    assert stock["SKU-B"]["available"] >= 0
