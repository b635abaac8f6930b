"""A service that stops finishes the batch in hand and gives back the deliveries it had not
started (they wait in the queue for the next consumer): a shutdown loses nothing."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from inventory_service.config import InventorySettings
from inventory_service.entrypoints.app import create_app
from shared.contract.topology import INVENTORY_ORDER_EVENTS, ORDER_EVENTS
from shared.process.runtime import Runtime
from tests import factories
from tests.support.broker import BrokerProbe, consumers_on, ready_and_unacked
from tests.support.databases import holding_stock
from tests.support.polling import eventually
from tests.support.services import get_json, running

DatabaseUrl = Callable[[str], Awaitable[str]]
QUEUE = INVENTORY_ORDER_EVENTS.name
ORDERS = 10


@asynccontextmanager
async def started(
    settings: InventorySettings,
) -> AsyncIterator[tuple[Runtime[Any], httpx.AsyncClient]]:
    """The service in this process, stopped by the test itself."""
    app = create_app(settings)
    runtime: Runtime[Any] = app.state.host
    await runtime.start()
    await eventually(runtime.readiness, lambda checks: all(checks.values()), what="ready")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
        yield runtime, http


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
async def test_a_stopping_consumer_gives_back_the_deliveries_it_had_not_started(
    broker_url: str, database_url: DatabaseUrl
) -> None:
    url = await database_url("inventory")
    settings = InventorySettings(
        amqp_url=broker_url, database_url=url, prefetch_count=ORDERS, consumer_batch_size=1
    )
    orders = [factories.order_placed([("SKU-1", 1)]) for _ in range(ORDERS)]
    async with BrokerProbe(broker_url) as probe, started(settings) as (runtime, http):
        await http.put("/stock/SKU-1", json={"available": ORDERS})
        # The first reservation waits for the stock; the other deliveries wait behind it.
        async with holding_stock(url, "SKU-1"):
            for event in orders:
                await probe.publish(
                    ORDER_EVENTS, factories.body(event), **factories.properties(event)
                )
            await eventually(
                lambda: ready_and_unacked(broker_url, QUEUE),
                lambda counts: counts == (0, ORDERS),
                what="every delivery taken by the consumer",
            )
            stopping = asyncio.create_task(runtime.stop())
            await eventually(
                lambda: consumers_on(broker_url, QUEUE), lambda n: n == 0, what="consuming stops"
            )
        await stopping  # the batch in hand finishes once the stock is free

        # (A quorum queue's counts lag a moment behind: read them once they settle.)
        ready, _ = await eventually(
            lambda: ready_and_unacked(broker_url, QUEUE),
            lambda counts: counts[1] == 0,
            what="nothing held any more",
        )
        assert ready == ORDERS - 1, "given back, not acknowledged"

    # The next consumer gets them: nothing was lost, nothing applied twice.
    async with running(create_app(settings)) as (_, http):
        level = await eventually(
            lambda: get_json(http, "/stock/SKU-1"),
            lambda level: level["reserved"] == ORDERS,
            what="every order reserved by the next consumer",
        )
    assert level == {"sku": "SKU-1", "available": 0, "reserved": ORDERS}
