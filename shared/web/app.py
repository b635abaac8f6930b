"""The app factory every service uses: the service's lifecycle in the app's lifespan,
health endpoints, dead-letter routes for a consuming service, and client errors that say
plainly what is wrong."""

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import SecretStr

from shared.messaging.dead_letters import DeadLetterDesk
from shared.telemetry.metrics import Metrics
from shared.web import dead_letter_routes, health, metrics_route


class ServiceHost(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def readiness(self) -> dict[str, bool]: ...


def create_service_app(
    host: ServiceHost,
    routers: Sequence[APIRouter],
    *,
    title: str,
    admin_token: SecretStr | None = None,
    dead_letters: DeadLetterDesk | None = None,
    metrics: Metrics | None = None,
    state: dict[str, Any] | None = None,
) -> FastAPI:
    """`state` is what the service's narrow dependencies read (its intake, its views...)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await host.start()
        try:
            yield
        finally:
            await host.stop()

    app = FastAPI(title=title, lifespan=lifespan)
    app.state.host = host
    app.state.admin_token = admin_token
    app.state.dead_letters = dead_letters
    app.state.metrics = metrics or Metrics()
    for name, value in (state or {}).items():
        setattr(app.state, name, value)
    app.include_router(health.router)
    app.include_router(metrics_route.router)
    if dead_letters is not None and dead_letters.queues:
        app.include_router(dead_letter_routes.router)
    for router in routers:
        app.include_router(router)
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    return app


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    errors: list[dict[str, Any]] = [
        {k: v for k, v in error.items() if k in ("loc", "msg", "type")} for error in exc.errors()
    ]
    summary = "; ".join(
        f"{'.'.join(str(p) for p in error['loc'] if p != 'body') or 'body'}: {error['msg']}"
        for error in errors
    )
    return JSONResponse(
        {"message": f"invalid request: {summary}", "detail": errors}, status_code=422
    )
