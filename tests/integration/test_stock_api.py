"""PUT /stock/{sku}: sets what is available, 0 to 2^31-1, of a sku the contract accepts,
and keeps what is reserved; anything else gets 422 and changes nothing. (No ADMIN_TOKEN is
set: these hold whether or not setting stock needs it.)"""

from collections.abc import Awaitable, Callable
from typing import Any

from inventory_service.config import InventorySettings
from inventory_service.entrypoints.app import create_app
from shared.contract.topology import ORDER_EVENTS
from tests import factories
from tests.support.broker import BrokerProbe
from tests.support.polling import eventually
from tests.support.services import get_json, running

DatabaseUrl = Callable[[str], Awaitable[str]]
LARGEST = 2**31 - 1


async def test_setting_stock_refuses_what_is_not_a_level(
    broker_url: str, database_url: DatabaseUrl
) -> None:
    settings = InventorySettings(amqp_url=broker_url, database_url=await database_url("inventory"))
    bad_bodies: list[Any] = [
        {"available": -1},
        {"available": LARGEST + 1},
        {"available": 1.5},
        {"available": "ten"},
        {},
    ]
    bad_skus = ["-leading-dash", "with%20space", "semi;colon", "x" * 65]
    async with running(create_app(settings)) as (_, http):
        for body in bad_bodies:
            response = await http.put("/stock/SKU-1", json=body)
            assert response.status_code == 422, (body, response.text)
            assert "available" in response.json()["message"], response.json()
        for sku in bad_skus:
            response = await http.put(f"/stock/{sku}", json={"available": 1})
            assert response.status_code == 422, (sku, response.text)
            assert "sku" in response.json()["message"], response.json()
        assert await get_json(http, "/stock") == [], "nothing was stored"

        for sku, available in (("SKU-1", 0), ("a.B_9-z", LARGEST)):
            response = await http.put(f"/stock/{sku}", json={"available": available})
            assert response.status_code == 200, (sku, response.text)
            assert response.json() == {"sku": sku, "available": available, "reserved": 0}


async def test_setting_stock_keeps_what_is_reserved(
    broker_url: str, database_url: DatabaseUrl
) -> None:
    settings = InventorySettings(amqp_url=broker_url, database_url=await database_url("inventory"))
    async with BrokerProbe(broker_url) as probe, running(create_app(settings)) as (_, http):
        await http.put("/stock/SKU-1", json={"available": 10})
        event = factories.order_placed([("SKU-1", 3)])
        await probe.publish(ORDER_EVENTS, factories.body(event), **factories.properties(event))
        await eventually(
            lambda: get_json(http, "/stock/SKU-1"),
            lambda level: level["reserved"] == 3,
            what="the order's stock reserved",
        )

        response = await http.put("/stock/SKU-1", json={"available": 20})

        expected = {"sku": "SKU-1", "available": 20, "reserved": 3}
        assert (response.status_code, response.json()) == (200, expected)
        assert await get_json(http, "/stock/SKU-1") == expected
