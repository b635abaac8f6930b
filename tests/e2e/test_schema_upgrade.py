"""A schema change rolled out on a running system, through the migrations, with orders
flowing the whole time: the order table's `currency` (OrderPlaced v2), added by an expand
step while the release before it still runs.

1. The release before (tests.e2e.pre_currency_order_service: its schema ends at revision
   0001) runs; it built its own database.
2. `python -m shared.process.migrate order` expands the live database to the head: the
   nullable column, and on PostgreSQL the pruning indexes, built concurrently. The old
   release goes on taking orders on the expanded schema (it names no new column).
3. The new release starts beside it, then the old one stops.

Nothing is lost or doubled, nothing is dead-lettered; the orders the old release took have
no currency (not priced, as the model says of an order without one), the new release's have
theirs."""

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.e2e.test_rolling_upgrade import flowing, upgrade
from tests.faults.harness import TEST_TIMEOUT, System, assert_nothing_lost_or_doubled
from tests.support.processes import ChildProcess
from tests.support.services import get_json

pytestmark = pytest.mark.timeout(TEST_TIMEOUT)
SystemFactory = Callable[..., Awaitable[System]]

OLD_RELEASE = "tests.e2e.pre_currency_order_service"
PRICES = {"PRICES": "SKU-A=2.50,SKU-B=1.25,SKU-C=10", "CURRENCY": "EUR"}


async def migrate(system: System, tmp_path: Path) -> str:
    process = ChildProcess(
        "migrate",
        "shared.process.migrate",
        tmp_path / "migrate.log",
        {"DATABASE_URL": system.database_url("order"), "LOG_LEVEL": "INFO"},
        args=["order"],
    ).start()
    status = await asyncio.to_thread(process.reap, 120)
    assert status == 0, process.log()
    return process.log()


async def test_an_expand_migration_and_a_rolling_upgrade_lose_no_order(
    make_system: SystemFactory, tmp_path: Path
) -> None:
    system = await make_system(
        modules={"order": OLD_RELEASE},
        service_env={"order": {**PRICES, "ORDER_PLACED_VERSION": "1"}},
    )
    (old,) = system.processes["order"]
    phases = {"old release, old schema": time.monotonic()}
    async with flowing(system):
        await asyncio.sleep(3)
        migrated = await migrate(system, tmp_path)
        phases["old release, expanded schema"] = time.monotonic()
        await asyncio.sleep(3)
        await upgrade(system, "order", env=PRICES)
        phases["new release"] = time.monotonic()
        await asyncio.sleep(3)
    tally = await system.tally("expand migration and rolling upgrade")

    per_phase = Counter(
        [name for name, at in phases.items() if at <= order.accepted_at][-1]
        for order in system.orders
    )
    print(f"orders per phase {dict(per_phase)}\n{migrated.strip()}")
    assert_nothing_lost_or_doubled(tally)
    assert all(per_phase[name] > 0 for name in phases), per_phase
    assert old.stopped_cleanly(), old.why_not_stopped_cleanly()
    for queue, service in (
        ("inventory.order-events", "inventory"),
        ("notification.order-events", "notification"),
        ("order.inventory-events", "order"),
    ):
        url = f"{system.url(service)}/admin/dead-letters/{queue}"
        assert await get_json(system.http, url) == [], queue

    currencies: Counter[str] = Counter()
    for order in system.orders:
        found = await get_json(system.http, f"{system.url('order')}/orders/{order.id}")
        taken_by_new = order.accepted_at >= phases["new release"]
        if taken_by_new:
            currencies["new: " + str(found["currency"])] += 1
        elif order.accepted_at < phases["old release, expanded schema"] - 1:
            currencies["old: " + str(found["currency"])] += 1
    print(f"currency of the orders each release took: {dict(currencies)}")
    assert set(currencies) == {"old: None", "new: EUR"}, currencies
