"""The live page in a real browser (Debian's Chromium, driven by Playwright): the four
services as processes, an order placed with the page's own form, its journey shown live to
CONFIRMED with both notifications, a poisoned order's dead letter and a forged event in red
with their reasons, nothing loaded from anywhere but the page's origin; the screenshot the
README shows is taken here (written to docs/ with UPDATE_SCREENSHOT=1; otherwise to the
test's own folder, so that a test run leaves the working tree as it found it)."""

import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from shared.contract.envelope import encode
from shared.contract.events import INVENTORY_SOURCE, StockReservedV1, event_of
from shared.contract.topology import INVENTORY_EVENTS
from shared.persistence.database import Database
from tests.support.broker import BrokerProbe
from tests.support.databases import execute
from tests.support.flow import DatabaseUrl, Flow, running_flow
from tests.support.processes import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOT = ROOT / "docs" / "live-page.png"
POISON = """CREATE TRIGGER poison BEFORE INSERT ON reservations
            WHEN NEW.items LIKE '%POISON-1%'
            BEGIN SELECT RAISE(ABORT, 'poisoned reservation'); END"""
SECONDS = 1000  # Playwright counts milliseconds


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    assert shutil.which(CHROMIUM), (
        "no Chromium: `make test-browser` installs it (apt-get install -y chromium)"
    )
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def flow(broker_url: str, tmp_path: Path) -> AsyncIterator[Flow]:
    async def sqlite(name: str) -> str:
        return f"sqlite:///{tmp_path / f'{name}.db'}"

    database_url: DatabaseUrl = sqlite
    async with running_flow(broker_url, database_url, tmp_path) as running:
        yield running


async def test_an_order_placed_on_the_page_is_seen_to_confirmation_with_its_troubles_in_red(
    flow: Flow, browser: Browser, broker_url: str, tmp_path: Path
) -> None:
    await flow.stock("SKU-1", 100)
    await flow.stock("POISON-1", 100)
    inventory_db = Database(flow.database_urls["inventory"])
    await execute(inventory_db, [POISON])
    await inventory_db.dispose()

    page = await browser.new_page(viewport={"width": 1100, "height": 1000})
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    await page.goto(flow.url("audit") + "/")
    await expect(page.locator("#live")).to_have_text("live", timeout=10 * SECONDS)

    order_id = await place_with_the_form(page, "ada", "SKU-1", 2)
    card = page.locator(f"#order-{order_id}")
    await expect(card).to_have_attribute("data-status", "CONFIRMED", timeout=20 * SECONDS)
    for hop in ("OrderPlaced", "StockReserved", "CONFIRMED", "order-received", "order-confirmed"):
        await expect(card.locator(".hop .label").get_by_text(hop, exact=True)).to_be_visible(
            timeout=20 * SECONDS
        )
    await expect(card.locator(".hop.bad")).to_have_count(0)

    poisoned = await place_with_the_form(page, "bob", "POISON-1", 1)
    dead = page.locator(f"#order-{poisoned} .hop.bad", has_text="dead-lettered")
    await expect(dead).to_be_visible(timeout=30 * SECONDS)
    await expect(dead).to_contain_text("poisoned reservation")
    await expect(dead).to_contain_text("inventory.order-events")
    await expect(page.locator(f"#order-{poisoned}")).to_have_attribute("data-status", "PENDING")
    assert await red(dead), "a dead letter is shown in red"

    await forge_stock_reserved(broker_url, order_id)
    forged = card.locator(".hop.bad", has_text="StockReserved rejected")
    await expect(forged).to_be_visible(timeout=15 * SECONDS)
    await expect(forged).to_contain_text("unsigned")
    assert await red(forged), "a forged event is shown in red"
    # ...and the consumers that refused it dead-lettered it: shown on its order too.
    refused = card.locator(".hop.bad", has_text="order.inventory-events")
    await expect(refused).to_contain_text("Untrusted: unsigned", timeout=15 * SECONDS)
    health = page.locator("#health tr", has_text="inventory.order-events")
    await expect(health.locator("td").nth(3)).not_to_have_text("0", timeout=10 * SECONDS)

    await page.evaluate("window.scrollTo(0, 0)")
    screenshot = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOT") else tmp_path / SCREENSHOT.name
    await page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 0

    await page.set_viewport_size({"width": 390, "height": 844})  # a phone
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page is {overflow}px wider than a phone's screen"
    origin = flow.url("audit")
    assert requests and all(url.startswith(origin) for url in requests), requests
    assert not problems, problems


async def place_with_the_form(page: Page, customer: str, sku: str, quantity: int) -> str:
    await page.fill("input[name=customer_id]", customer)
    await page.fill("input[name=sku]", sku)
    await page.fill("input[name=quantity]", str(quantity))
    result = page.locator("#form-result")
    await page.click("button[type=submit]")
    await expect(result).to_have_attribute("data-order-id", _uuid_pattern(), timeout=10 * SECONDS)
    placed = await result.get_attribute("data-order-id")
    assert placed is not None
    await expect(result).to_contain_text(placed)
    return placed


async def forge_stock_reserved(broker_url: str, order_id: str) -> None:
    """What an attacker with a broker password publishes: a StockReserved, unsigned."""
    data = StockReservedV1(order_id=uuid.UUID(order_id), items=[])
    event = event_of(data, source=INVENTORY_SOURCE)
    async with BrokerProbe(broker_url) as probe:
        await probe.publish(
            INVENTORY_EVENTS,
            encode(event),
            message_id=event.id,
            type=event.type,
            content_type="application/cloudevents+json",
        )


async def red(locator: Any) -> bool:
    colour = await locator.evaluate("e => getComputedStyle(e).color")
    r, g, b = (int(part) for part in colour[colour.index("(") + 1 : -1].split(",")[:3])
    return r > 150 and g < 90 and b < 90


def _uuid_pattern() -> re.Pattern[str]:
    return re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
