"""GET /metrics counts right under batching and redelivery: a known scenario (ten orders,
one of them delivered three times, a poison message retried until it is dead-lettered,
a forged one) gives exact counter values."""

from collections.abc import Awaitable, Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from inventory_service.config import InventorySettings
from inventory_service.entrypoints.app import create_app
from shared.contract.topology import INVENTORY_ORDER_EVENTS, ORDER_EVENTS
from tests import factories
from tests.support.broker import BrokerProbe
from tests.support.databases import execute
from tests.support.polling import eventually
from tests.support.services import running

DatabaseUrl = Callable[[str], Awaitable[str]]
QUEUE = INVENTORY_ORDER_EVENTS.name
POISON_TRIGGER = """CREATE TRIGGER poison BEFORE INSERT ON reservations
    WHEN NEW.items LIKE '%POISON%' BEGIN SELECT RAISE(ABORT, 'poisoned'); END"""


async def samples(http: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = (await http.get("/metrics")).text
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
async def test_counters_are_exact_under_batching_redelivery_retries_and_dead_letters(
    broker_url: str, database_url: DatabaseUrl
) -> None:
    settings = InventorySettings(
        amqp_url=broker_url,
        database_url=await database_url("inventory"),
        retry_delays=(0.1, 0.2),
        queue_watch_seconds=0.2,
    )
    orders = [factories.order_placed([("SKU-1", 1)]) for _ in range(10)]
    twice_more = orders[3]
    poison = factories.order_placed([("POISON-1", 1)])
    forged = factories.order_placed([("SKU-1", 1)])
    async with BrokerProbe(broker_url) as probe, running(create_app(settings)) as (rt, http):
        await http.put("/stock/SKU-1", json={"available": 100})
        await http.put("/stock/POISON-1", json={"available": 100})
        await execute(rt.db, [POISON_TRIGGER])
        before = await samples(http)
        for event in [*orders, twice_more, twice_more, poison]:
            await probe.publish(ORDER_EVENTS, factories.body(event), **factories.properties(event))
        await probe.publish(ORDER_EVENTS, factories.body(forged), message_id=forged.id)  # unsigned

        def settled(found: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> bool:
            return (
                value(found, "outbox_published_total", event_type="StockReserved") == 10
                and value(
                    found,
                    "messages_dead_lettered_total",
                    queue=QUEUE,
                    event_type="OrderPlaced",
                    reason="exhausted",
                )
                == 1
                and value(
                    found, "broker_queue_messages", queue=INVENTORY_ORDER_EVENTS.dead_letter_queue
                )
                == 2
                and value(found, "outbox_pending_rows") == 0  # a gauge: read every second
            )

        after = await eventually(lambda: samples(http), settled, timeout=30, what="all settled")

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    placed = {"queue": QUEUE, "event_type": "OrderPlaced"}
    unknown = {"queue": QUEUE, "event_type": "unknown"}
    # 10 orders, 2 more deliveries of one, 3 of the poison (first try and two retries).
    assert delta("messages_consumed_total", **placed) == 15
    assert delta("messages_consumed_total", **unknown) == 1, "the forged one: type unproven"
    assert delta("messages_acknowledged_total", **placed) == 15
    assert delta("messages_acknowledged_total", **unknown) == 1
    assert delta("messages_deduplicated_total", **placed) == 2
    assert delta("messages_retried_total", **placed) == 2
    assert delta("messages_dead_lettered_total", **placed, reason="exhausted") == 1
    assert delta("messages_dead_lettered_total", **unknown, reason="untrusted") == 1
    assert delta("messages_returned_total", **placed) == 0
    assert delta("message_critical_time_seconds_count", **placed) == 10, "one per effect"
    assert delta("outbox_published_total", event_type="StockReserved") == 10
    assert delta("outbox_publish_failures_total", event_type="StockReserved") == 0
    assert delta("outbox_publish_confirm_seconds_count") == 10
    assert value(after, "broker_queue_consumers", queue=QUEUE) == 1
    assert value(after, "broker_queue_messages", queue=QUEUE) == 0


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
async def test_http_requests_are_counted_by_route_template_and_status(
    broker_url: str, database_url: DatabaseUrl
) -> None:
    settings = InventorySettings(amqp_url=broker_url, database_url=await database_url("inventory"))
    async with running(create_app(settings)) as (_, http):
        await http.put("/stock/SKU-1", json={"available": 1})
        for sku in ("SKU-1", "SKU-1", "NOPE"):
            await http.get(f"/stock/{sku}")
        await http.get("/no/such/path")
        found = await samples(http)

    def requests(route: str, status: str, method: str = "GET") -> float:
        return value(found, "http_requests_total", method=method, route=route, status=status)

    assert requests("/stock/{sku}", "200") == 2
    assert requests("/stock/{sku}", "404") == 1
    assert requests("/stock/{sku}", "200", method="PUT") == 1
    assert requests("unmatched", "404") == 1, "a path nobody serves is not a series of its own"
    assert (
        value(found, "http_request_duration_seconds_count", method="GET", route="/stock/{sku}") == 3
    )
