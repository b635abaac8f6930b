"""The audit service's HTTP surface, on its own (its database, no broker): who may list
what, the page and its assets with their security headers, and the dead-letter links."""

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from audit_service.config import AuditSettings
from audit_service.entrypoints.app import create_app

TOKEN = "audit-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def audit(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = AuditSettings(database_url=f"sqlite:///{tmp_path / 'audit.db'}", admin_token=TOKEN)
    app = create_app(settings)
    runtime = app.state.host
    await runtime.prepare_schema()
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://audit") as client:
            yield client
    finally:
        await runtime.db.dispose()


async def test_an_orders_events_are_open_and_a_listing_across_orders_needs_the_token(
    audit: httpx.AsyncClient,
) -> None:
    order_id = uuid.uuid4()
    assert (await audit.get(f"/events?order_id={order_id}")).json() == []
    assert (await audit.get("/events")).status_code == 401
    assert (await audit.get("/events", headers={"Authorization": "Bearer nope"})).status_code == 401
    listed = await audit.get("/events?limit=5", headers=ADMIN)
    assert (listed.status_code, listed.json()) == (200, [])
    assert (await audit.get("/events?limit=0", headers=ADMIN)).status_code == 422
    assert (await audit.get(f"/events/{uuid.uuid4()}")).status_code == 404


async def test_the_page_and_its_assets_come_from_its_own_origin_only(
    audit: httpx.AsyncClient,
) -> None:
    page = await audit.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert 'src="/static/page.js"' in page.text and "http" not in page.text.split("<body>")[0]
    for name, kind in (("page.js", "javascript"), ("page.css", "css"), ("favicon.svg", "svg")):
        asset = await audit.get(f"/static/{name}")
        assert asset.status_code == 200 and kind in asset.headers["content-type"]
    assert (await audit.get("/static/..%2Fconfig.py")).status_code == 404
    assert (await audit.get("/cards")).status_code == 200


async def test_dead_letters_need_the_token_and_name_a_work_queue(
    audit: httpx.AsyncClient,
) -> None:
    assert (await audit.get("/dead-letters")).status_code == 401
    queues = await audit.get("/dead-letters", headers=ADMIN)
    assert {q["queue"] for q in queues.json()} == {
        "inventory.order-events",
        "notification.order-events",
        "order.inventory-events",
        "notification.inventory-events",
    }
    assert (await audit.get("/dead-letters/audit.events", headers=ADMIN)).status_code == 404
