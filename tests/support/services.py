"""A service as a test reaches it: started in the test's own process (`running`), and
read over its HTTP API (`get_json`); or a consumer line of the inventory service's with a
handler of the test's own (`inventory_runtime`)."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import MetaData

from inventory_service.config import InventorySettings
from shared.contract import events as contracts
from shared.contract.topology import INVENTORY_ORDER_EVENTS
from shared.core.handlers import Event, Subscription, handles, one_at_a_time
from shared.persistence.inbox import inbox_table
from shared.persistence.unit_of_work import SqlUnitOfWork
from shared.process.runtime import Runtime
from shared.telemetry.tracing import Tracing
from tests.support.polling import eventually


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[tuple[Runtime[Any], httpx.AsyncClient]]:
    """Start a service in this process: its runtime, and its HTTP app without a socket."""
    runtime: Runtime[Any] = app.state.host
    await runtime.start()
    try:
        await eventually(
            runtime.readiness, lambda checks: all(checks.values()), what=f"{runtime.service} ready"
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield runtime, client
    finally:
        await runtime.stop()


async def get_json(client: httpx.AsyncClient, path: str) -> Any:
    """A GET, asked again once if the server closed the kept-alive connection just as it
    was reused (uvicorn closes one idle for 5 s; the close can cross the request on the
    wire). A GET is safe to repeat; a server that is down still fails the second time."""
    try:
        response = await client.get(path)
    except httpx.RemoteProtocolError:
        response = await client.get(path)
    response.raise_for_status()
    return response.json()


def inventory_runtime(
    settings: InventorySettings,
    handler: Callable[[Event[contracts.OrderPlacedV1], SqlUnitOfWork], None],
    tracing: Tracing | None = None,
) -> Runtime[SqlUnitOfWork]:
    """An inventory consumer whose OrderPlaced handler is `handler` (its inbox, retries and
    dead letters the real ones), traced by `tracing` when given."""
    metadata = MetaData()
    inbox = inbox_table(metadata)
    return Runtime(
        settings,
        metadata,
        unit_of_work=lambda conn: SqlUnitOfWork(conn, inbox),
        subscriptions=[
            Subscription.of(
                INVENTORY_ORDER_EVENTS, [handles(contracts.OrderPlacedV1, one_at_a_time(handler))]
            )
        ],
        tracing=tracing,
    )
