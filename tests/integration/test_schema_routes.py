"""Every event the running services publish names, in `dataschema`, a JSON Schema its
producer serves at GET /schemas/{type}/{version}, the one docs/schemas/ holds, and its data
is valid against it: OrderPlaced v2 (and v1, for the upgrade window) from the order
service, StockReserved and StockRejected from the inventory service."""

import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from inventory_service.config import InventorySettings
from inventory_service.entrypoints.app import create_app as inventory_app
from order_service.config import OrderSettings
from order_service.entrypoints.app import create_app as order_app
from shared.contract.envelope import CloudEvent, decode
from shared.contract.schemas import file_name
from shared.contract.topology import INVENTORY_EVENTS, ORDER_EVENTS
from tests.support.broker import BrokerProbe, take_all
from tests.support.polling import eventually
from tests.support.services import get_json, running

DOCS = Path(__file__).resolve().parents[2] / "docs/schemas"


async def served_schema_of(http: httpx.AsyncClient, event: CloudEvent) -> dict[str, Any]:
    """The schema `event.dataschema` names, as its producer serves it."""
    (link,) = [s for s in await get_json(http, "/schemas") if s["dataschema"] == event.dataschema]
    assert (link["type"], link["version"]) == (event.type, event.dataversion)
    response = await http.get(link["href"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/schema+json"
    schema: dict[str, Any] = response.json()
    return schema


@pytest.mark.parametrize("version", [2, 1])
async def test_each_published_event_names_a_schema_its_producer_serves_and_fits_it(
    broker_url: str, tmp_path: Path, version: int
) -> None:
    def database(service: str) -> str:
        return f"sqlite:///{tmp_path / service}.db"

    order = OrderSettings(
        amqp_url=broker_url,
        database_url=database("order"),
        prices="SKU-1=2.50",
        order_placed_version=version,
    )
    inventory = InventorySettings(amqp_url=broker_url, database_url=database("inventory"))
    async with (
        BrokerProbe(broker_url) as probe,
        running(order_app(order)) as (_, order_http),
        running(inventory_app(inventory)) as (_, inventory_http),
    ):
        order_tap, inventory_tap = await probe.tap(ORDER_EVENTS), await probe.tap(INVENTORY_EVENTS)
        await inventory_http.put("/stock/SKU-1", json={"available": 5})
        for quantity in (2, 50):  # one reserved, one rejected
            response = await order_http.post(
                "/orders",
                json={"customer_id": "c-1", "items": [{"sku": "SKU-1", "quantity": quantity}]},
            )
            assert response.status_code == 202, response.text

        placed: list[CloudEvent] = []
        outcomes: list[CloudEvent] = []

        async def published() -> int:
            placed.extend(decode(m.body) for m in await take_all(order_tap))
            outcomes.extend(decode(m.body) for m in await take_all(inventory_tap))
            return len(placed) + len(outcomes)

        await eventually(published, lambda n: n == 4, what="2 orders placed and answered")

        assert {e.dataversion for e in placed} == {str(version)}
        assert sorted(e.type for e in outcomes) == ["StockRejected", "StockReserved"]
        for events, http in ((placed, order_http), (outcomes, inventory_http)):
            for event in events:
                schema = await served_schema_of(http, event)
                committed = DOCS / file_name(event.type, event.dataversion)
                assert schema == json.loads(committed.read_text())
                jsonschema.validate(event.data, schema, cls=jsonschema.Draft202012Validator)
        assert (await order_http.get("/schemas/StockReserved/1")).status_code == 404
