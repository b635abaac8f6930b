"""A consumer takes no more deliveries than its prefetch allows: with its handler stuck,
PREFETCH_COUNT messages are held unacknowledged and the rest wait in the queue (for a
competing consumer, or for later), however many there are."""

from collections.abc import Awaitable, Callable

import pytest

from inventory_service.config import InventorySettings
from inventory_service.entrypoints.app import create_app
from shared.contract.topology import INVENTORY_ORDER_EVENTS, ORDER_EVENTS
from tests import factories
from tests.support.broker import BrokerProbe, ready_and_unacked
from tests.support.databases import holding_stock
from tests.support.polling import eventually
from tests.support.services import get_json, running

DatabaseUrl = Callable[[str], Awaitable[str]]
PREFETCH = 3
ORDERS = 10


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
async def test_a_consumer_holds_no_more_unacknowledged_deliveries_than_its_prefetch(
    broker_url: str, database_url: DatabaseUrl
) -> None:
    url = await database_url("inventory")
    settings = InventorySettings(
        amqp_url=broker_url, database_url=url, prefetch_count=PREFETCH, consumer_batch_size=1
    )
    orders = [factories.order_placed([("SKU-1", 1)]) for _ in range(ORDERS)]
    async with BrokerProbe(broker_url) as probe, running(create_app(settings)) as (_, http):
        await http.put("/stock/SKU-1", json={"available": ORDERS})
        # The stock is held: the first reservation waits for it, its delivery unacknowledged.
        async with holding_stock(url, "SKU-1"):
            for event in orders:
                await probe.publish(
                    ORDER_EVENTS, factories.body(event), **factories.properties(event)
                )
            await eventually(
                lambda: ready_and_unacked(broker_url, INVENTORY_ORDER_EVENTS.name),
                lambda counts: counts == (ORDERS - PREFETCH, PREFETCH),
                what=f"{PREFETCH} held by the consumer, the rest waiting in the queue",
            )
        await eventually(
            lambda: get_json(http, "/stock/SKU-1"),
            lambda level: level["reserved"] == ORDERS,
            what="every order reserved once the stock is free",
        )
