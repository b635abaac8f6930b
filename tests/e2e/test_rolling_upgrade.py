"""OrderPlaced v1 -> v2 through a rolling upgrade, with real processes, the real broker and
orders flowing the whole time: consumers first (one by one), the producer last. Nothing is
lost, nothing dead-lettered, every order settles, and the e-mails of v2 orders carry
their total. And the wrong order (the producer on v2 while a consumer knows only v1):
dead-lettered with a clear reason, recovered by replay once that consumer is upgraded."""

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from decimal import Decimal

import orjson
import pytest

from shared.contract.topology import (
    INVENTORY_ORDER_EVENTS,
    NOTIFICATION_ORDER_EVENTS,
    ORDER_EVENTS,
)
from tests.faults.harness import (
    TEST_TIMEOUT,
    Order,
    System,
    assert_nothing_lost_or_doubled,
)
from tests.support.broker import BrokerProbe, take_all
from tests.support.mail import Mailbox, mail_server
from tests.support.polling import eventually
from tests.support.services import get_json

pytestmark = [
    pytest.mark.timeout(TEST_TIMEOUT),
    pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True),
]
SystemFactory = Callable[..., Awaitable[System]]

V1_ONLY = "tests.e2e.v1_only_consumer"
PRICES = {"SKU-A": Decimal("2.50"), "SKU-B": Decimal("1.25"), "SKU-C": Decimal(10)}


@pytest.fixture
def mailbox() -> Iterator[tuple[int, Mailbox]]:
    with mail_server() as server:
        yield server


def an_old_deployment(smtp_port: int, *, producer_version: str) -> dict[str, object]:
    prices = ",".join(f"{sku}={price}" for sku, price in PRICES.items())
    return {
        "modules": {"inventory": V1_ONLY, "notification": V1_ONLY},
        "service_env": {
            "order": {
                "PRICES": prices,
                "CURRENCY": "EUR",
                "ORDER_PLACED_VERSION": producer_version,
            },
            "inventory": {"V1_ONLY_SERVICE": "inventory"},
            "notification": {
                "V1_ONLY_SERVICE": "notification",
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(smtp_port),
                "DISPATCH_RETRY_BASE_SECONDS": "0.2",
            },
        },
    }


async def upgrade(system: System, name: str, env: dict[str, str] | None = None) -> None:
    """Start the new version beside the old, then stop the old one (gracefully: what it
    holds goes back to the queue for the new one)."""
    old = [p for p in system.processes[name] if p.running]
    new = system.spawn(name, module=f"{name}_service", env=env)
    await new.wait_ready()
    for process in old:
        await asyncio.to_thread(process.stop)


@asynccontextmanager
async def flowing(system: System, rate: float = 20.0) -> AsyncIterator[None]:
    """Orders placed at `rate` for as long as the block runs."""
    stop = asyncio.Event()

    async def place() -> None:
        while not stop.is_set():
            await system.place(10, rate=rate, rng=random.Random(len(system.orders)))

    load = asyncio.create_task(place())
    try:
        yield
    finally:
        stop.set()
        await load


def expected_total(order: Order) -> str | None:
    if any(item["sku"] not in PRICES for item in order.items):
        return None
    return format(sum(PRICES[i["sku"]] * i["quantity"] for i in order.items), "f")


async def dead_letters(system: System, service: str, queue: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = await get_json(
        system.http, f"{system.url(service)}/admin/dead-letters/{queue}"
    )
    return found


async def test_a_rolling_upgrade_to_order_placed_v2_loses_nothing_and_dead_letters_nothing(
    make_system: SystemFactory, broker_url: str, mailbox: tuple[int, Mailbox]
) -> None:
    smtp_port, box = mailbox
    system = await make_system(**an_old_deployment(smtp_port, producer_version="1"))
    async with BrokerProbe(broker_url) as probe:
        published = await probe.tap(ORDER_EVENTS)
        phases = {"v1 everywhere": time.monotonic()}
        async with flowing(system):  # orders the whole time, however long each step takes
            await asyncio.sleep(3)
            await upgrade(system, "inventory")
            phases["inventory upgraded"] = time.monotonic()
            await asyncio.sleep(3)
            await upgrade(system, "notification")
            phases["notification upgraded"] = time.monotonic()
            await asyncio.sleep(3)
            await upgrade(system, "order", env={"ORDER_PLACED_VERSION": "2"})
            phases["producer on v2"] = time.monotonic()
            await asyncio.sleep(3)
        tally = await system.tally("rolling-upgrade")
        version_of = {
            str(event["data"]["order_id"]): event["dataversion"]
            for event in (orjson.loads(m.body) for m in await take_all(published))
        }
    versions = Counter(version_of.values())

    per_phase = Counter(
        [name for name, at in phases.items() if at <= order.accepted_at][-1]
        for order in system.orders
    )
    print(f"orders per phase {dict(per_phase)}; OrderPlaced published by version {dict(versions)}")
    assert_nothing_lost_or_doubled(tally)
    assert await dead_letters(system, "inventory", INVENTORY_ORDER_EVENTS.name) == []
    assert await dead_letters(system, "notification", NOTIFICATION_ORDER_EVENTS.name) == []
    assert all(per_phase[name] > 0 for name in phases), "orders flowed in every phase"
    assert versions["1"] > 0 and versions["2"] > 0
    # The mails of the orders published as v2 say what they cost; the v1 ones cannot.

    def received_mail(order: Order) -> str:
        (mail,) = [m for m in box.for_order(order.id) if "received" in str(m["Subject"])]
        return str(mail.get_payload())

    await eventually(lambda: len(box.messages), lambda n: n >= 2 * len(system.orders), timeout=60)
    v2 = [o for o in system.orders if version_of[o.id] == "2"]
    priced = [o for o in v2 if expected_total(o)]
    assert priced, "some priced orders were published as v2"
    for order in priced:
        assert f"Total: {expected_total(order)} EUR." in received_mail(order), order
    unpriced = [o for o in system.orders if version_of[o.id] == "1" or not expected_total(o)]
    assert unpriced and all("Total:" not in received_mail(o) for o in unpriced)


async def test_the_producer_on_v2_before_a_consumer_knows_v2_dead_letters_and_recovers_by_replay(
    make_system: SystemFactory, mailbox: tuple[int, Mailbox]
) -> None:
    smtp_port, _ = mailbox
    system = await make_system(**an_old_deployment(smtp_port, producer_version="2"))
    await upgrade(system, "inventory")  # inventory knows v2; notification does not yet
    placed = await system.place(20, rate=20)
    queue = NOTIFICATION_ORDER_EVENTS.name
    letters = await eventually(
        lambda: dead_letters(system, "notification", queue),
        lambda found: len(found) == len(placed),
        timeout=60,
        what="every OrderPlaced v2 dead-lettered by the v1-only notification service",
    )
    reasons = {str(letter["reason"]) for letter in letters}
    print(f"dead-lettered by the v1-only consumer: {len(letters)}, reasons {reasons}")
    assert reasons == {"InvalidMessage: no schema for OrderPlaced dataversion '2'"}

    await upgrade(system, "notification")
    replayed = await system.http.post(
        f"{system.url('notification')}/admin/dead-letters/{queue}/replay",
        json={"all": True},
    )
    assert replayed.json()["done"] == len(placed)

    assert_nothing_lost_or_doubled(await system.tally("producer-first-then-replay"))
    assert await dead_letters(system, "notification", queue) == []
