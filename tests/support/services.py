"""A service as a test reaches it: started in the test's own process (`running`), and
read over its HTTP API (`get_json`)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from shared.process.runtime import Runtime
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
