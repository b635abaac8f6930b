"""The event log with the four services as processes, on SQLite and PostgreSQL: every
message on the stream indexed with its verdict, trace id and order; an order's events oldest
first; a restarted reader goes on from its offset; and with its database deleted, the
service rebuilds the same index from the stream's first offset."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from shared.contract.envelope import encode
from shared.contract.events import INVENTORY_SOURCE, StockReservedV1, event_of
from shared.contract.topology import INVENTORY_EVENTS, ORDER_EVENTS
from tests.support.broker import BrokerProbe
from tests.support.flow import DatabaseUrl, Flow, running_flow
from tests.support.otlp import otlp_receiver
from tests.support.polling import eventually


@pytest.fixture
async def flow(broker_url: str, database_url: DatabaseUrl, tmp_path: Path) -> AsyncIterator[Flow]:
    with otlp_receiver() as (endpoint, _):
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200"}
        async with running_flow(broker_url, database_url, tmp_path, env=env) as running:
            await running.stock("SKU-1", 1000)
            yield running


async def forge(broker_url: str, order_id: str) -> str:
    """An unsigned StockReserved for `order_id`, and a body that is no event at all."""
    data = StockReservedV1(order_id=uuid.UUID(order_id), items=[])
    event = event_of(data, source=INVENTORY_SOURCE)
    async with BrokerProbe(broker_url) as probe:
        await probe.publish(INVENTORY_EVENTS, encode(event), message_id=event.id)
        await probe.publish(ORDER_EVENTS, b"\x00 not an event", message_id="garbage-1")
    return event.id


async def test_every_message_is_indexed_with_its_verdict_and_an_order_reads_oldest_first(
    flow: Flow, broker_url: str
) -> None:
    order_id = await flow.place("SKU-1", 2)
    events = await flow.events_until(order_id, lambda e: len(e) == 2, "placed and reserved")
    forged_id = await forge(broker_url, order_id)
    events = await flow.events_until(order_id, lambda e: len(e) == 3, "the forgery indexed")

    assert [(e["type"], e["verdict"]) for e in events] == [
        ("OrderPlaced", "genuine"),
        ("StockReserved", "genuine"),
        ("StockReserved", "rejected"),
    ]
    placed, reserved, forged = events
    assert [e["offset"] for e in events] == sorted(e["offset"] for e in events)
    assert placed["producer"] == "order" and reserved["producer"] == "inventory"
    assert reserved["causation_id"] == placed["id"] == reserved["correlation_id"]
    assert len(placed["trace_id"]) == 32 and reserved["trace_id"] == placed["trace_id"]
    assert forged["id"] == forged_id and forged["reason"].startswith("unsigned")
    assert forged["producer"] is None

    one = (await flow.http.get(f"{flow.url('audit')}/events/{placed['id']}")).json()
    assert one == placed
    missing = await flow.http.get(f"{flow.url('audit')}/events/no-such-event")
    assert missing.status_code == 404
    only = await flow.events(order_id)
    assert only == events
    reserved_only = await flow.http.get(
        f"{flow.url('audit')}/events?order_id={order_id}&type=StockReserved"
    )
    assert [e["verdict"] for e in reserved_only.json()] == ["genuine", "rejected"]

    everything = await eventually(
        lambda: flow.events(), lambda found: len(found) == 4, what="the garbage indexed too"
    )
    garbage = everything[-1]
    assert (garbage["verdict"], garbage["order_id"], garbage["id"]) == (
        "rejected",
        None,
        "garbage-1",
    )
    bad = await flow.http.get(f"{flow.url('audit')}/events?order_id=not-a-uuid")
    assert bad.status_code == 422


async def test_a_restarted_reader_goes_on_from_the_offset_it_recorded(flow: Flow) -> None:
    first = await flow.place("SKU-1")
    await flow.events_until(first, lambda e: len(e) == 2, "the first order's events")
    await flow.stop_audit()
    for order_id in [await flow.place("SKU-1"), await flow.place("SKU-1")]:
        await flow.settled(order_id)  # its events are on the stream, not yet indexed
    await flow.start_audit()
    everything = await eventually(
        lambda: flow.events(), lambda found: len(found) == 6, what="six events indexed"
    )
    assert [e["offset"] for e in everything] == list(range(6))
    metrics = (await flow.http.get(f"{flow.url('audit')}/metrics")).text
    # This process indexed only what came after the offset its predecessor recorded.
    assert 'audit_events_indexed_total{verdict="genuine"} 4.0' in metrics, metrics


async def test_with_its_database_deleted_the_service_rebuilds_the_same_index_from_the_stream(
    flow: Flow, broker_url: str, database_url: DatabaseUrl
) -> None:
    orders = [await flow.place("SKU-1" if n % 5 else "NO-SUCH-SKU") for n in range(40)]
    await forge(broker_url, orders[0])
    expected = 2 * len(orders) + 2
    before = await eventually(
        lambda: flow.events(limit=1000),
        lambda found: len(found) == expected,
        timeout=60,
        what=f"{expected} messages indexed",
    )

    await flow.stop_audit()
    url = flow.database_urls["audit"]
    if url.startswith("sqlite"):
        await asyncio.to_thread(delete_sqlite, Path(url.removeprefix("sqlite:///")))
    else:  # a database of its own, empty: as good as the old one dropped
        url = await database_url("audit-rebuilt")
    started = time.monotonic()
    await flow.start_audit(url)
    after = await eventually(
        lambda: flow.events(limit=1000),
        lambda found: len(found) == expected,
        timeout=60,
        what="the index rebuilt",
    )
    rebuilt_in = time.monotonic() - started
    verdicts = {v: sum(e["verdict"] == v for e in after) for v in ("genuine", "rejected")}
    print(
        f"REPLAY: {len(before)} rows before, {len(after)} after the database was deleted, "
        f"identical: {before == after}; {verdicts}; rebuilt (start to last row) in "
        f"{rebuilt_in:.1f}s"
    )
    assert after == before


def delete_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
async def test_an_open_live_page_does_not_hold_up_the_services_stop(flow: Flow) -> None:
    """The server lets open responses finish before it stops, and a live stream never
    finishes by itself: the service ends its streams as soon as it is asked to stop."""
    ended = asyncio.Event()

    async def listen() -> None:
        async with (
            httpx.AsyncClient(timeout=None) as client,
            client.stream("GET", f"{flow.url('audit')}/live") as stream,
        ):
            async for _ in stream.aiter_lines():
                pass
        ended.set()

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0.5)
    started = time.monotonic()
    await flow.stop_audit()  # SIGTERM; fails unless it stopped cleanly
    took = time.monotonic() - started
    await asyncio.wait_for(ended.wait(), 5)
    await listener
    assert took < 5, f"stopping took {took:.1f}s with a page open"
    await flow.start_audit()
