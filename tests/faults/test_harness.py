"""The fault harness itself: a system whose service logged something unhandled does not
stop quietly, whatever the tally says; and the tally sees every order, however many."""

import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.faults.harness import (
    LISTED,
    TEST_TIMEOUT,
    System,
    assert_nothing_lost_or_doubled,
    when,
)

pytestmark = pytest.mark.timeout(TEST_TIMEOUT)


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
async def test_stopping_fails_when_a_consumer_worker_died(
    broker_url: str, database_url: Callable[[str], Awaitable[str]], tmp_path: Path
) -> None:
    urls = {name: await database_url(name) for name in ("order", "inventory", "notification")}
    system = System(
        broker_url, urls, tmp_path, modules={"inventory": "tests.faults.consumer_worker_dies"}
    )
    try:
        await system.start()
        await system.place_one([{"sku": "SKU-A", "quantity": 1}], expected="CONFIRMED")
        inventory = system.processes["inventory"][0]
        await when(lambda: "consumer worker died" in inventory.log(), "the worker's death")
        assert inventory.running, "the process outlives its consumer worker"
    except BaseException:
        with contextlib.suppress(AssertionError):
            await system.stop()
        raise

    with pytest.raises(AssertionError, match="consumer worker died"):
        await system.stop()


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
async def test_the_tally_counts_more_orders_than_a_listing_returns(
    make_system: Callable[..., Awaitable[System]],
) -> None:
    # More orders than GET /orders lists at once, so more than twice as many notifications
    # as GET /notifications does: the tally must still find every one of them.
    system = await make_system()
    await system.place(LISTED + 10, rate=200, concurrency=32)

    tally = await system.tally("more than a listing")

    assert tally.placed == LISTED + 10
    assert_nothing_lost_or_doubled(tally)
