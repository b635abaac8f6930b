"""Only the right service can publish an event, in local mode too (one broker user for
everything): forged events, tried as someone with nothing but broker access would, change
nothing and are dead-lettered with the reason; a producer's key is rotated without
downtime (consumers trust the old and the new key for the switch)."""

import uuid
from collections.abc import Awaitable, Callable

import pytest

from inventory_service.config import InventorySettings
from inventory_service.entrypoints.app import create_app as inventory_app
from notification_service.config import NotificationSettings
from notification_service.entrypoints.app import create_app as notification_app
from order_service.config import OrderSettings
from order_service.entrypoints.app import create_app as order_app
from shared.contract import headers as h
from shared.contract.events import (
    INVENTORY_SOURCE,
    ORDER_SOURCE,
    OrderLine,
    OrderPlacedV2,
    PricedOrderLine,
    StockReservedV1,
    event_of,
)
from shared.contract.signing import EventSigner, TrustedKeys, Untrusted
from shared.contract.topology import (
    INVENTORY_EVENTS,
    INVENTORY_ORDER_EVENTS,
    NOTIFICATION_INVENTORY_EVENTS,
    NOTIFICATION_ORDER_EVENTS,
    ORDER_EVENTS,
    ORDER_INVENTORY_EVENTS,
)
from tests import factories
from tests.support import keys
from tests.support.broker import BrokerProbe
from tests.support.polling import eventually
from tests.support.services import get_json, running

DatabaseUrl = Callable[[str], Awaitable[str]]
ADMIN = {"Authorization": "Bearer secret"}


def forged(body: bytes, how: str) -> dict[str, object]:
    """The headers an attacker can put on a body: none, a key nobody trusts, a trusted key
    id with their own key, or a genuine signature of another producer."""
    if how == "unsigned":
        return {}
    stranger = EventSigner.generate("inventory", "attacker")
    if how == "unknown key":
        return stranger.sign(body)
    if how == "stolen key id":
        return {**stranger.sign(body), h.SIGNATURE_KEY: keys.SIGNERS["inventory"].key_id}
    return keys.signed(body, "order")  # the order service's genuine key, wrong producer


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
async def test_forged_events_change_nothing_and_are_dead_lettered_with_their_reason(
    broker_url: str, database_url: DatabaseUrl
) -> None:
    common = {"amqp_url": broker_url, "admin_token": "secret"}
    order = order_app(OrderSettings(database_url=await database_url("order"), **common))
    inventory = inventory_app(
        InventorySettings(database_url=await database_url("inventory"), **common)
    )
    notification = notification_app(
        NotificationSettings(database_url=await database_url("notification"), **common)
    )
    async with (
        BrokerProbe(broker_url) as probe,
        running(order) as (_, orders),
        running(inventory) as (inventory_rt, stock),
        running(notification) as (_, notifications),
    ):
        await stock.put("/stock/SKU-1", json={"available": 5}, headers=ADMIN)
        # A genuine order for a sku nobody has: it must end REJECTED, never CONFIRMED.
        placed = await orders.post(
            "/orders", json={"customer_id": "c-1", "items": [{"sku": "NOPE", "quantity": 1}]}
        )
        order_id = uuid.UUID(placed.json()["id"])
        # Forged outcomes for it, each way an attacker can sign (or not).
        ways = ("unsigned", "unknown key", "stolen key id", "wrong producer")
        for how in ways:
            event = event_of(
                StockReservedV1(order_id=order_id, items=[OrderLine(sku="NOPE", quantity=1)]),
                source=INVENTORY_SOURCE,
            )
            body = factories.body(event)
            await probe.publish(
                INVENTORY_EVENTS, body, message_id=f"{how}-outcome", headers=forged(body, how)
            )
        # A forged order for real stock, mailed to an address of the attacker's choosing.
        made_up = uuid.uuid4()
        fake = event_of(
            OrderPlacedV2(
                order_id=made_up,
                customer_id="attacker",
                email="attacker@example.com",
                items=[PricedOrderLine(sku="SKU-1", quantity=5)],
            ),
            source=ORDER_SOURCE,
        )
        body = factories.body(fake)
        await probe.publish(ORDER_EVENTS, body, message_id="forged-order", headers={})

        letters = {
            queue.name: await probe.collect(queue.dead_letter_queue, count)
            for queue, count in (
                (ORDER_INVENTORY_EVENTS, len(ways)),
                (NOTIFICATION_INVENTORY_EVENTS, len(ways)),
                (INVENTORY_ORDER_EVENTS, 1),
                (NOTIFICATION_ORDER_EVENTS, 1),
            )
        }
        final = await eventually(
            lambda: get_json(orders, f"/orders/{order_id}"),
            lambda o: o["status"] != "PENDING",
            what="the genuine outcome",
        )
        level = await get_json(stock, "/stock/SKU-1")
        mails = await get_json(notifications, f"/notifications?order_id={made_up}")
        kinds = {
            n["kind"] for n in await get_json(notifications, f"/notifications?order_id={order_id}")
        }

    assert final["status"] == "REJECTED", "the forged StockReserved confirmed nothing"
    assert level == {"sku": "SKU-1", "available": 5, "reserved": 0}, "nothing reserved"
    assert mails == [], "no mail for the made-up order"
    assert "order-confirmed" not in kinds
    reasons = {
        queue: sorted(str(m.headers[h.DEAD_LETTER_REASON]).split(":")[1].strip() for m in found)
        for queue, found in letters.items()
    }
    expected_outcomes = sorted(["unsigned", "unknown key", "bad signature", "producer not allowed"])
    assert reasons[ORDER_INVENTORY_EVENTS.name] == expected_outcomes
    assert reasons[NOTIFICATION_INVENTORY_EVENTS.name] == expected_outcomes
    assert reasons[INVENTORY_ORDER_EVENTS.name] == ["unsigned"]
    assert inventory_rt.consumers[0].processed >= 1, "the genuine order was applied"


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
async def test_a_producer_key_is_rotated_without_downtime(
    broker_url: str, database_url: DatabaseUrl
) -> None:
    old, new = keys.SIGNERS["inventory"], EventSigner.generate("inventory", "inventory-next")
    order_key = keys.SIGNERS["order"]

    def trusting(*signers: EventSigner) -> str:
        return ",".join(s.public_text() for s in signers)

    inventory_db = await database_url("inventory")
    order_settings = OrderSettings(
        amqp_url=broker_url,
        database_url=await database_url("order"),
        event_signing_keys=order_key.secret_text(),
        event_trusted_keys=trusting(old, new),  # step 1: consumers trust both
    )

    def inventory(signer: EventSigner) -> InventorySettings:
        return InventorySettings(
            amqp_url=broker_url,
            database_url=inventory_db,
            event_signing_keys=signer.secret_text(),
            event_trusted_keys=trusting(order_key),
        )

    async def place(orders: object) -> str:
        response = await orders.post(  # type: ignore[attr-defined]
            "/orders", json={"customer_id": "c", "items": [{"sku": "SKU-1", "quantity": 1}]}
        )
        return str(response.json()["id"])

    async with BrokerProbe(broker_url) as probe, running(order_app(order_settings)) as (_, orders):
        outcomes = await probe.tap(INVENTORY_EVENTS)
        async with running(inventory_app(inventory(old))) as (_, stock):
            await stock.put("/stock/SKU-1", json={"available": 10})
            before = await place(orders)
            await eventually(
                lambda: get_json(orders, f"/orders/{before}"),
                lambda o: o["status"] == "CONFIRMED",
            )
        # Step 2: the producer switches to its new key (a restart with the new setting).
        async with running(inventory_app(inventory(new))) as _:
            after = await place(orders)
            await eventually(
                lambda: get_json(orders, f"/orders/{after}"),
                lambda o: o["status"] == "CONFIRMED",
            )
        seen = await probe.collect(outcomes.name, 2)
        assert await probe.drain(ORDER_INVENTORY_EVENTS.dead_letter_queue) == []

    assert [m.headers[h.SIGNATURE_KEY] for m in seen] == [old.key_id, new.key_id]
    # Step 3: consumers drop the old key; what it signed is no longer trusted.
    assert keys.TRUSTED.verify(seen[0].headers, seen[0].body) == "inventory"
    with pytest.raises(Untrusted, match="unknown key"):
        TrustedKeys.parse(trusting(new)).verify(seen[0].headers, seen[0].body)
