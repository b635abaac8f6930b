"""GET /schemas and GET /schemas/{type}/{version}: each producer serves the JSON Schema of
every (type, version) it publishes, the one its events name in `dataschema`, and nothing
else. The apps are built as the services build them but not started: these routes need
no runtime. (tests/integration/test_schema_routes.py asks a running service.)"""

import uuid
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from fastapi import FastAPI

from inventory_service.config import InventorySettings
from inventory_service.entrypoints.app import create_app as inventory_app
from order_service.config import OrderSettings
from order_service.entrypoints.app import create_app as order_app
from shared.contract.events import (
    ORDER_SOURCE,
    SCHEMAS,
    EventData,
    OrderLine,
    OrderPlacedV1,
    OrderPlacedV2,
    PricedOrderLine,
    event_of,
)
from shared.contract.schemas import json_schema


@pytest.fixture
def apps(tmp_path: Path) -> dict[str, FastAPI]:
    def settings(kind: type[Any]) -> Any:
        return kind(
            database_url=f"sqlite:///{tmp_path / kind.service_name}.db", var_dir=str(tmp_path)
        )

    return {
        "order": order_app(settings(OrderSettings)),
        "inventory": inventory_app(settings(InventorySettings)),
    }


async def get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        return await client.get(path)


@pytest.mark.parametrize(
    ("service", "served"),
    [
        ("order", [("OrderPlaced", "1"), ("OrderPlaced", "2")]),
        ("inventory", [("StockRejected", "1"), ("StockReserved", "1")]),
    ],
)
async def test_a_producer_lists_the_schemas_of_what_it_publishes(
    apps: dict[str, FastAPI], service: str, served: list[tuple[str, str]]
) -> None:
    response = await get(apps[service], "/schemas")

    assert response.status_code == 200, response.text
    assert response.json() == [
        {
            "type": event_type,
            "version": version,
            "dataschema": f"urn:rabbit-orders:schema:{event_type}:{version}",
            "href": f"/schemas/{event_type}/{version}",
        }
        for event_type, version in served
    ]


@pytest.mark.parametrize(
    ("service", "event_type", "version"),
    [
        ("order", "OrderPlaced", "1"),
        ("order", "OrderPlaced", "2"),
        ("inventory", "StockReserved", "1"),
        ("inventory", "StockRejected", "1"),
    ],
)
async def test_each_schema_is_served_as_json_schema_named_by_its_dataschema(
    apps: dict[str, FastAPI], service: str, event_type: str, version: str
) -> None:
    response = await get(apps[service], f"/schemas/{event_type}/{version}")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/schema+json"
    schema = response.json()
    model = SCHEMAS.model(event_type, version)
    assert model is not None
    assert schema == json_schema(model)
    assert schema["$id"] == f"urn:rabbit-orders:schema:{event_type}:{version}"
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize(
    "data",
    [
        OrderPlacedV1(
            order_id=uuid.uuid4(), customer_id="c-1", items=[OrderLine(sku="A", quantity=2)]
        ),
        OrderPlacedV2(
            order_id=uuid.uuid4(),
            customer_id="c-1",
            email="ada@example.com",
            items=[PricedOrderLine(sku="A", quantity=2, unit_price="9.99")],
            currency="EUR",
            total="19.98",
        ),
    ],
    ids=["v1", "v2"],
)
async def test_the_served_schema_accepts_what_the_producer_publishes(
    apps: dict[str, FastAPI], data: EventData
) -> None:
    event = event_of(data, source=ORDER_SOURCE)
    response = await get(apps["order"], f"/schemas/{event.type}/{event.dataversion}")

    schema = response.json()
    assert event.dataschema == schema["$id"]
    jsonschema.validate(event.data, schema, cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize(
    ("service", "path"),
    [
        ("order", "/schemas/OrderPlaced/3"),
        ("order", "/schemas/OrderPlaced/v2"),
        ("order", "/schemas/StockReserved/1"),  # inventory's, not the order service's
        ("inventory", "/schemas/OrderPlaced/1"),
        ("inventory", "/schemas/Nothing/1"),
    ],
)
async def test_a_schema_the_service_does_not_produce_is_not_found(
    apps: dict[str, FastAPI], service: str, path: str
) -> None:
    response = await get(apps[service], path)

    assert response.status_code == 404, response.text
    assert "GET /schemas" in response.json()["message"]
