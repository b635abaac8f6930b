"""The domain keys, proven without the inbox's help: the same order's event published again
under another event id (which no inbox recognises) still has one effect. One reservation
per order, one notification per (order, kind), one status change per order, each held by
the service's own data, in SQLite and PostgreSQL."""

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from sqlalchemy import Connection, Table, func, select

from inventory_service.adapters import tables as inventory_tables
from inventory_service.config import InventorySettings
from inventory_service.entrypoints.app import create_app as inventory_app
from notification_service.adapters import tables as notification_tables
from notification_service.config import NotificationSettings
from notification_service.entrypoints.app import create_app as notification_app
from order_service.adapters import tables as order_tables
from order_service.config import OrderSettings
from order_service.entrypoints.app import create_app as order_app
from shared.contract.envelope import CloudEvent
from shared.contract.topology import INVENTORY_EVENTS, ORDER_EVENTS, QUEUES
from shared.messaging.consumer import Consumer
from shared.persistence.database import Database
from tests import factories
from tests.support.broker import BrokerProbe, take_all
from tests.support.polling import eventually
from tests.support.services import get_json, running

DatabaseUrl = Callable[[str], Awaitable[str]]
RETRIES = (0.1, 0.2)  # a copy that failed would be dead-lettered within a second


def again(event: CloudEvent) -> CloudEvent:
    """The same data under a new event id: the event published a second time."""
    return event.model_copy(update={"id": f"{event.id}-again"})


async def publish(probe: BrokerProbe, exchange: str, *events: CloudEvent) -> None:
    for event in events:
        await probe.publish(exchange, factories.body(event), **factories.properties(event))


async def inbox_rows(db: Database, table: Table) -> int:
    def count(conn: Connection) -> int:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)

    return await db.read(count)


async def dead_letters(probe: BrokerProbe) -> list[Any]:
    return [m for spec in QUEUES for m in await probe.drain(spec.dead_letter_queue)]


async def test_order_placed_again_under_another_event_id_reserves_stock_once(
    broker_url: str, database_url: DatabaseUrl
) -> None:
    settings = InventorySettings(
        amqp_url=broker_url, database_url=await database_url("inventory"), retry_delays=RETRIES
    )
    async with BrokerProbe(broker_url) as probe, running(inventory_app(settings)) as (rt, http):
        outcomes = await probe.tap(INVENTORY_EVENTS)
        await http.put("/stock/SKU-1", json={"available": 10})
        first = factories.order_placed([("SKU-1", 3)])
        await publish(probe, ORDER_EVENTS, first, again(first))

        await eventually(lambda: rt.consumers[0].processed, lambda n: n == 2, what="both applied")
        assert rt.outbox is not None
        await eventually(rt.outbox.unpublished_count, lambda n: n == 0, what="outbox relayed")
        # Both ids are new to the inbox: only the reservation's key stood in the way.
        assert await inbox_rows(rt.db, inventory_tables.inbox) == 2
        assert await get_json(http, "/stock/SKU-1") == {
            "sku": "SKU-1",
            "available": 7,
            "reserved": 3,
        }
        published = [orjson.loads(m.body) for m in await take_all(outcomes)]
        assert await dead_letters(probe) == []
    assert [(e["type"], e["causationid"]) for e in published] == [("StockReserved", first.id)]


async def test_an_outcome_again_under_another_event_id_notifies_once_per_kind(
    broker_url: str, database_url: DatabaseUrl
) -> None:
    settings = NotificationSettings(
        amqp_url=broker_url, database_url=await database_url("notification"), retry_delays=RETRIES
    )
    async with BrokerProbe(broker_url) as probe, running(notification_app(settings)) as (rt, http):
        placed = factories.order_placed([("SKU-1", 1)])
        order_id = placed.data["order_id"]
        reserved = factories.stock_reserved(order_id, [("SKU-1", 1)])
        await publish(probe, ORDER_EVENTS, placed, again(placed))
        await publish(probe, INVENTORY_EVENTS, reserved, again(reserved))

        for consumer in rt.consumers:

            def processed(c: Consumer = consumer) -> int:
                return c.processed

            await eventually(processed, lambda n: n == 2, what=f"both on {consumer.name}")
        assert await inbox_rows(rt.db, notification_tables.inbox) == 4
        found = await eventually(
            lambda: get_json(http, f"/notifications?order_id={order_id}"),
            lambda items: len(items) >= 2 and all(n["status"] == "sent" for n in items),
            what="the order's notifications sent",
        )
        assert await dead_letters(probe) == []
    assert Counter(n["kind"] for n in found) == {"order-received": 1, "order-confirmed": 1}


async def test_an_outcome_again_under_another_event_id_leaves_the_order_as_it_was(
    broker_url: str, database_url: DatabaseUrl
) -> None:
    settings = OrderSettings(
        amqp_url=broker_url, database_url=await database_url("order"), retry_delays=RETRIES
    )
    async with BrokerProbe(broker_url) as probe, running(order_app(settings)) as (rt, http):
        placed = await http.post(
            "/orders", json={"customer_id": "c-1", "items": [{"sku": "SKU-1", "quantity": 2}]}
        )
        order_id = placed.json()["id"]
        reserved = factories.stock_reserved(order_id, [("SKU-1", 2)])
        await publish(probe, INVENTORY_EVENTS, reserved)
        confirmed = await eventually(
            lambda: get_json(http, f"/orders/{order_id}"),
            lambda order: order["status"] == "CONFIRMED",
        )
        await publish(probe, INVENTORY_EVENTS, again(reserved))

        await eventually(lambda: rt.consumers[0].processed, lambda n: n == 2, what="both applied")
        assert await inbox_rows(rt.db, order_tables.inbox) == 2
        assert await get_json(http, f"/orders/{order_id}") == confirmed
        assert await dead_letters(probe) == []
