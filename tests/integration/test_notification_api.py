"""GET /notifications: the newest first, `order_id` keeps one order's, `limit` is 1 to 1000."""

import operator
from collections.abc import Awaitable, Callable
from functools import partial

import httpx

from notification_service.config import NotificationSettings
from notification_service.entrypoints.app import create_app
from shared.contract.topology import ORDER_EVENTS
from tests import factories
from tests.support.broker import BrokerProbe
from tests.support.polling import eventually
from tests.support.services import get_json, running

DatabaseUrl = Callable[[str], Awaitable[str]]


async def recorded(http: httpx.AsyncClient) -> int:
    return len(await get_json(http, "/notifications"))


async def test_notifications_are_listed_newest_first_up_to_the_limit(
    broker_url: str, database_url: DatabaseUrl
) -> None:
    settings = NotificationSettings(
        amqp_url=broker_url, database_url=await database_url("notification")
    )
    async with BrokerProbe(broker_url) as probe, running(create_app(settings)) as (_, http):
        order_ids: list[str] = []
        for n in range(3):
            # One at a time, so each is recorded in its own transaction, at its own time.
            event = factories.order_placed([("SKU-1", 1)], customer_id=f"c-{n}")
            await probe.publish(ORDER_EVENTS, factories.body(event), **factories.properties(event))
            order_ids.append(str(event.data["order_id"]))
            await eventually(
                lambda: recorded(http),
                partial(operator.eq, n + 1),
                what=f"notification {n + 1} recorded",
            )

        async def listed(query: str = "") -> list[str]:
            return [n["order_id"] for n in await get_json(http, f"/notifications{query}")]

        newest_first = order_ids[::-1]
        assert await listed() == newest_first
        assert await listed("?limit=1") == newest_first[:1]
        assert await listed("?limit=2") == newest_first[:2]
        assert await listed("?limit=1000") == newest_first
        assert await listed(f"?order_id={order_ids[1]}") == [order_ids[1]]
        for refused in ("0", "1001", "many"):
            response = await http.get(f"/notifications?limit={refused}")
            assert response.status_code == 422, (refused, response.text)
            assert "limit" in response.json()["message"]
