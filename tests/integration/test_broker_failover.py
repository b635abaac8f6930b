"""A service given several broker nodes (AMQP_FAILOVER_HOSTS) goes on when the node it is
connected to is lost: its connection moves to the next node, its consumers with it, and
back round to the first when that is the one left. Two TCP proxies to the local broker
stand for two nodes of a cluster (each can be cut on its own); the cluster itself, with
`docker kill`, is tests/cluster."""

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.polling import eventually
from tests.support.processes import ServiceProcess, stop_all
from tests.support.proxy import TcpProxy


@pytest.fixture
async def nodes(broker_url: str) -> AsyncIterator[tuple[TcpProxy, TcpProxy]]:
    first, second = TcpProxy.for_url(broker_url), TcpProxy.for_url(broker_url)
    await first.start()
    await second.start()
    yield first, second
    await first.stop()
    await second.stop()


async def confirmed_order(http: httpx.AsyncClient, order: ServiceProcess) -> float:
    """Place an order; seconds until it is CONFIRMED."""
    started = time.monotonic()
    body = {"customer_id": "c", "items": [{"sku": "SKU-1", "quantity": 1}]}
    placed = await http.post(f"{order.url}/orders", json=body)
    assert placed.status_code == 202, placed.text
    await eventually(
        lambda: http.get(f"{order.url}/orders/{placed.json()['id']}"),
        lambda response: response.json()["status"] == "CONFIRMED",
        timeout=60,
        what="the order confirmed",
    )
    return time.monotonic() - started


async def test_a_service_fails_over_to_the_next_node_and_back_round(
    broker_url: str, nodes: tuple[TcpProxy, TcpProxy], tmp_path: Path
) -> None:
    first, second = nodes
    settings = {
        "AMQP_URL": first.url(broker_url),
        "AMQP_FAILOVER_HOSTS": f"127.0.0.1:{second.port}",
        # An event whose publication failed as its node went away waits out its lease.
        "OUTBOX_LEASE_SECONDS": "2",
    }
    services = [
        ServiceProcess(
            name, {**settings, "DATABASE_URL": f"sqlite:///{tmp_path}/{name}.db"}, tmp_path
        )
        for name in ("order", "inventory")
    ]
    order, inventory = services
    try:
        for service in services:
            service.start()
        for service in services:
            await service.wait_ready()
        async with httpx.AsyncClient(timeout=10) as http:
            seeded = await http.put(f"{inventory.url}/stock/SKU-1", json={"available": 100})
            seeded.raise_for_status()
            timings = {"first node": await confirmed_order(http, order)}

            first.cut()  # the node both are connected to is lost
            timings["second node"] = await confirmed_order(http, order)

            first.restore()
            second.cut()  # and now the other: round to the first again
            timings["first node again"] = await confirmed_order(http, order)
        print(f"order confirmed, seconds from POST: {timings}")
        assert max(timings.values()) < 20, timings
    finally:
        await asyncio.to_thread(stop_all, services)
    for service in services:
        assert service.stopped_cleanly(), service.why_not_stopped_cleanly()
