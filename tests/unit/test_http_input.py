"""Hostile input on the HTTP side, answered before a service touches its database or the
broker: strict request models, control characters, one line per sku, a limit on bodies,
JSON only, the admin token, and one shape for every client error. The apps are built as
the services build them but not started: every request here is refused before a route
would need the runtime. (What passes these checks is tested against a real broker and
database in tests/integration/test_http_security.py.)"""

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from inventory_service.config import InventorySettings
from inventory_service.entrypoints.app import create_app as inventory_app
from notification_service.config import NotificationSettings
from notification_service.entrypoints.app import create_app as notification_app
from order_service.config import OrderSettings
from order_service.entrypoints.app import create_app as order_app

TOKEN = "s3cret"
ORDER_ID = "3f1c0c52-4d8e-4d43-9a4c-2c1b1c0d9e11"


def line(sku: str = "SKU-1", quantity: Any = 1) -> dict[str, Any]:
    return {"sku": sku, "quantity": quantity}


def order(**fields: Any) -> dict[str, Any]:
    return {"customer_id": "c-42", "email": "ada@example.com", "items": [line()], **fields}


AppFactory = Callable[..., FastAPI]


@pytest.fixture
def apps(tmp_path: Path) -> dict[str, FastAPI]:
    def settings(kind: type[Any]) -> Any:
        return kind(
            database_url=f"sqlite:///{tmp_path / kind.service_name}.db",
            admin_token=SecretStr(TOKEN),
            max_body_bytes=64 * 1024,
        )

    return {
        "order": order_app(settings(OrderSettings)),
        "inventory": inventory_app(settings(InventorySettings)),
        "notification": notification_app(settings(NotificationSettings)),
    }


@pytest.fixture
async def order_http(apps: dict[str, FastAPI]) -> AsyncIterator[httpx.AsyncClient]:
    async with client(apps["order"]) as http:
        yield http


@pytest.fixture
async def inventory_http(apps: dict[str, FastAPI]) -> AsyncIterator[httpx.AsyncClient]:
    async with client(apps["inventory"]) as http:
        yield http


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service")


def assert_client_error(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert isinstance(body["message"], str), body
    for word in words:
        assert word in body["message"], body


# --- strict request models -----------------------------------------------------------------


@pytest.mark.parametrize("quantity", ["3", True, 1.0, 2.5, None], ids=repr)
async def test_a_quantity_that_is_not_a_json_integer_is_refused(
    order_http: httpx.AsyncClient, quantity: Any
) -> None:
    response = await order_http.post("/orders", json=order(items=[line(quantity=quantity)]))

    assert_client_error(response, 422, "items.0.quantity")


@pytest.mark.parametrize("available", ["3", True, 1.0], ids=repr)
async def test_a_stock_level_that_is_not_a_json_integer_is_refused(
    inventory_http: httpx.AsyncClient, available: Any
) -> None:
    response = await inventory_http.put(
        "/stock/SKU-1", json={"available": available}, headers=admin()
    )

    assert_client_error(response, 422, "available")


@pytest.mark.parametrize(
    "body",
    [order(customer_id=42), order(email=["ada@example.com"]), order(items=[line(sku=7)])],
    ids=["customer-id-number", "email-list", "sku-number"],
)
async def test_text_fields_take_json_strings_only(
    order_http: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    assert_client_error(await order_http.post("/orders", json=body), 422)


# --- control characters --------------------------------------------------------------------


@pytest.mark.parametrize("field", ["customer_id", "email"])
@pytest.mark.parametrize(
    ("char", "code"),
    [("\x00", "0000"), ("\n", "000A"), ("\x1b", "001B"), ("\x7f", "007F"), ("\x85", "0085")],
    ids=["nul", "newline", "escape", "del", "c1-next-line"],
)
async def test_a_control_character_in_customer_id_or_email_is_refused(
    order_http: httpx.AsyncClient, field: str, char: str, code: str
) -> None:
    value = f"ada{char}@example.com" if field == "email" else f"c-{char}42"

    response = await order_http.post("/orders", json=order(**{field: value}))

    assert_client_error(response, 422, field, "control characters", f"U+{code}")


# --- one line per sku -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "quantities", [(6000, 6000), (1, 1)], ids=["sum-over-the-limit", "sum-within-it"]
)
async def test_an_order_naming_a_sku_on_two_lines_is_refused_naming_the_sku(
    order_http: httpx.AsyncClient, quantities: tuple[int, int]
) -> None:
    items = [line("SKU-1", quantities[0]), line("SKU-2", 1), line("SKU-1", quantities[1])]

    response = await order_http.post("/orders", json=order(items=items))

    assert_client_error(response, 422, "items", "SKU-1 on more than one line")


# --- body size ------------------------------------------------------------------------------


async def test_a_body_declared_larger_than_the_limit_is_refused_unread(
    order_http: httpx.AsyncClient,
) -> None:
    read: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        read.append(1)
        yield b"{}"

    response = await order_http.post(
        "/orders",
        content=body(),
        headers={"content-type": "application/json", "content-length": str(100 * 2**20)},
    )

    assert_client_error(response, 413, "larger than 65536 bytes")
    assert response.headers["connection"] == "close"
    assert read == []


async def test_a_chunked_body_is_refused_once_it_passes_the_limit(
    order_http: httpx.AsyncClient,
) -> None:
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"customer_id": "'
        for _ in range(1000):  # 8 MB if it were all read
            sent.append(8192)
            yield b"x" * 8192
        yield b'", "items": []}'

    response = await order_http.post(
        "/orders", content=chunks(), headers={"content-type": "application/json"}
    )

    assert_client_error(response, 413, "larger than 65536 bytes")
    assert sum(sent) <= 64 * 1024 + 8192, "no more than the limit and a chunk is read"


async def test_an_order_of_a_hundred_lines_is_far_below_the_limit(
    order_http: httpx.AsyncClient,
) -> None:
    items = [line(f"SKU-{n:04d}-with-a-long-name-to-make-it-larger", 10_000) for n in range(100)]
    body = order(customer_id="", items=items)  # refused for its customer id: parsed, then

    response = await order_http.post("/orders", json=body)

    assert_client_error(response, 422, "customer_id")


# --- one shape for every client error -------------------------------------------------------


async def test_deeply_nested_json_gets_400_with_a_message(
    order_http: httpx.AsyncClient,
) -> None:
    response = await order_http.post(
        "/orders",
        content=b"[" * 20_000 + b"]" * 20_000,  # 40 KB: within the limit
        headers={"content-type": "application/json"},
    )

    assert_client_error(response, 400, "nested too deeply")
    assert "detail" not in response.json()


async def test_a_body_that_is_not_json_gets_422_with_a_message(
    order_http: httpx.AsyncClient,
) -> None:
    response = await order_http.post(
        "/orders", content=b"{oops", headers={"content-type": "application/json"}
    )

    assert_client_error(response, 422, "JSON")


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
async def test_a_body_not_sent_as_json_gets_415(
    order_http: httpx.AsyncClient, inventory_http: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    placed = await order_http.post("/orders", content=b'{"customer_id": "c"}', headers=headers)
    stocked = await inventory_http.put(
        "/stock/SKU-1", content=b'{"available": 1}', headers={**headers, **admin()}
    )

    for response in (placed, stocked):
        assert_client_error(response, 415, "Content-Type: application/json")


async def test_an_unknown_path_and_a_wrong_method_get_a_message(
    order_http: httpx.AsyncClient,
) -> None:
    missing = await order_http.get("/no-such-thing")
    wrong_method = await order_http.delete("/orders")

    assert_client_error(missing, 404)
    assert_client_error(wrong_method, 405)
    assert wrong_method.headers["allow"] == "GET, POST"


# --- the admin token ------------------------------------------------------------------------


def admin(token: str = TOKEN, scheme: str = "Bearer") -> dict[str, str]:
    return {"Authorization": f"{scheme} {token}"}


@pytest.mark.parametrize(
    "headers",
    [{}, admin("wrong"), admin(scheme="Basic"), {"Authorization": TOKEN}],
    ids=["none", "wrong-token", "other-scheme", "no-scheme"],
)
async def test_stock_writes_and_the_order_listing_need_the_admin_token(
    order_http: httpx.AsyncClient, inventory_http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    listing = await order_http.get("/orders", headers=headers)
    stocked = await inventory_http.put("/stock/SKU-1", json={"available": 5}, headers=headers)

    for response in (listing, stocked):
        assert_client_error(response, 401, "admin token required")
        assert response.headers["www-authenticate"] == "Bearer"


# --- what the OpenAPI documents say ---------------------------------------------------------


ANSWERS = {
    ("order", "post", "/orders"): {"202", "400", "409", "413", "415", "422"},
    ("order", "get", "/orders"): {"200", "401", "422"},
    ("order", "get", "/orders/{order_id}"): {"200", "404", "422"},
    ("inventory", "get", "/stock"): {"200"},
    ("inventory", "get", "/stock/{sku}"): {"200", "404", "422"},
    ("inventory", "put", "/stock/{sku}"): {"200", "400", "401", "413", "415", "422"},
    ("notification", "get", "/notifications"): {"200", "422"},
    ("inventory", "get", "/admin/dead-letters"): {"200", "401"},
    ("inventory", "get", "/admin/dead-letters/{queue}"): {"200", "401", "404", "422", "503"},
    ("inventory", "post", "/admin/dead-letters/{queue}/replay"): {
        *("200", "400", "401", "404", "413", "415", "422", "503"),
    },
    ("notification", "get", "/health/ready"): {"200", "503"},
}
PROTECTED = {
    ("order", "get", "/orders"),
    ("inventory", "put", "/stock/{sku}"),
    ("inventory", "get", "/admin/dead-letters"),
    ("inventory", "get", "/admin/dead-letters/{queue}"),
    ("inventory", "post", "/admin/dead-letters/{queue}/replay"),
}


@pytest.mark.parametrize(("service", "method", "path"), list(ANSWERS))
def test_the_openapi_document_lists_every_answer_and_who_may_call(
    apps: dict[str, FastAPI], service: str, method: str, path: str
) -> None:
    operation = apps[service].openapi()["paths"][path][method]

    assert set(operation["responses"]) == ANSWERS[(service, method, path)]
    assert ("security" in operation) == ((service, method, path) in PROTECTED)
    for status, answer in operation["responses"].items():
        if status.startswith("4"):
            schema = answer["content"]["application/json"]["schema"]["$ref"]
            assert schema.endswith("/ValidationErrorBody" if status == "422" else "/ErrorBody")


async def test_allow_names_the_methods_of_the_most_literal_path_that_matches(
    apps: dict[str, FastAPI],
) -> None:
    """`/admin/dead-letters/{queue}/purge` is also `/{queue}/{message_id}` by its shape."""
    async with client(apps["inventory"]) as http:
        purge = await http.options("/admin/dead-letters/q/purge", headers=admin())
        one = await http.delete("/admin/dead-letters/q/some-id", headers=admin())

    assert_client_error(purge, 405)
    assert purge.headers["allow"] == "POST"
    assert one.headers["allow"] == "GET"


def test_the_openapi_document_states_the_rules_of_an_order_and_of_a_selection(
    apps: dict[str, FastAPI],
) -> None:
    schemas = apps["order"].openapi()["components"]["schemas"]
    order = schemas["PlaceOrderRequest"]["properties"]
    assert order["customer_id"]["pattern"] == r"^[^\x00-\x1f\x7f-\x9f]+$"
    assert r"\x00-\x1f\x7f-\x9f" in order["email"]["anyOf"][0]["pattern"]
    line = schemas["OrderLineRequest"]
    assert line["additionalProperties"] is False
    assert line["properties"]["quantity"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 10_000,
        "title": "Quantity",
    }
    selection = apps["inventory"].openapi()["components"]["schemas"]["SelectionRequest"]
    assert [next(iter(branch["required"])) for branch in selection["anyOf"]] == [
        "message_ids",
        "event_type",
        "error_type",
        "reason_contains",
        "all",
    ]
