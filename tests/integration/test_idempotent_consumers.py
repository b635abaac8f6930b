"""The same event delivered several times has one effect, in every consumer."""

from collections.abc import Awaitable, Callable

import orjson
from sqlalchemy import func, select

from inventory_service.adapters.tables import outbox as inventory_outbox
from inventory_service.config import InventorySettings
from inventory_service.entrypoints.app import create_app as inventory_app
from notification_service.config import NotificationSettings
from notification_service.entrypoints.app import create_app as notification_app
from order_service.config import OrderSettings
from order_service.entrypoints.app import create_app as order_app
from shared.contract.topology import INVENTORY_EVENTS, ORDER_EVENTS
from tests import factories
from tests.support.broker import BrokerProbe, take_all
from tests.support.polling import eventually
from tests.support.services import get_json, running

DatabaseUrl = Callable[[str], Awaitable[str]]


async def test_order_placed_delivered_three_times_reserves_stock_once(
    broker_url: str, database_url: DatabaseUrl
) -> None:
    settings = InventorySettings(amqp_url=broker_url, database_url=await database_url("inventory"))
    async with BrokerProbe(broker_url) as probe, running(inventory_app(settings)) as (rt, http):
        outcomes = await probe.tap(INVENTORY_EVENTS)
        await http.put("/stock/SKU-1", json={"available": 10})
        event = factories.order_placed([("SKU-1", 3)])
        for _ in range(3):
            await probe.publish(ORDER_EVENTS, factories.body(event), **factories.properties(event))

        consumer = rt.consumers[0]
        await eventually(lambda: consumer.processed, lambda n: n == 3, what="3 deliveries")
        await eventually(rt.outbox.unpublished_count, lambda n: n == 0, what="outbox relayed")

        stock = (await http.get("/stock/SKU-1")).json()
        assert stock == {"sku": "SKU-1", "available": 7, "reserved": 3}
        published = await take_all(outcomes)
        assert [m.type for m in published] == ["StockReserved"]
        assert orjson.loads(published[0].body)["causationid"] == event.id
        count = select(func.count()).select_from(inventory_outbox)
        assert await rt.db.read(lambda conn: conn.scalar(count)) == 1


async def test_order_placed_delivered_three_times_records_one_notification(
    broker_url: str, database_url: DatabaseUrl
) -> None:
    settings = NotificationSettings(
        amqp_url=broker_url, database_url=await database_url("notification")
    )
    async with BrokerProbe(broker_url) as probe, running(notification_app(settings)) as (rt, http):
        event = factories.order_placed([("SKU-1", 1)])
        order_id = event.data["order_id"]
        for _ in range(3):
            await probe.publish(ORDER_EVENTS, factories.body(event), **factories.properties(event))

        order_events = next(c for c in rt.consumers if c.name == "notification.order-events")
        await eventually(lambda: order_events.processed, lambda n: n == 3)
        found = await eventually(
            lambda: get_json(http, f"/notifications?order_id={order_id}"),
            lambda items: len(items) == 1 and items[0]["status"] == "sent",
            what="one sent notification",
        )
        assert found[0]["kind"] == "order-received"
        assert found[0]["recipient"] == "buyer@example.com"


async def test_stock_reserved_delivered_three_times_confirms_order_once(
    broker_url: str, database_url: DatabaseUrl
) -> None:
    settings = OrderSettings(amqp_url=broker_url, database_url=await database_url("order"))
    async with BrokerProbe(broker_url) as probe, running(order_app(settings)) as (rt, http):
        placed = await http.post(
            "/orders", json={"customer_id": "c-1", "items": [{"sku": "SKU-1", "quantity": 2}]}
        )
        assert placed.status_code == 202
        order_id = placed.json()["id"]
        reserved = factories.stock_reserved(order_id, [("SKU-1", 2)])
        await probe.publish(
            INVENTORY_EVENTS, factories.body(reserved), **factories.properties(reserved)
        )
        first = await eventually(
            lambda: get_json(http, f"/orders/{order_id}"),
            lambda order: order["status"] == "CONFIRMED",
        )
        for _ in range(2):
            await probe.publish(
                INVENTORY_EVENTS, factories.body(reserved), **factories.properties(reserved)
            )
        await eventually(lambda: rt.consumers[0].processed, lambda n: n == 3)

        again = (await http.get(f"/orders/{order_id}")).json()
        assert again == first
