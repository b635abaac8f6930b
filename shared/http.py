"""The HTTP side every service shares: app factory with the runtime in its lifespan,
health endpoints, and 422 responses that say plainly what is wrong."""

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from shared import admin
from shared.deps import RuntimeDep
from shared.runtime import Runtime

health = APIRouter(prefix="/health", tags=["health"])


@health.get("/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@health.get("/ready")
async def ready(runtime: RuntimeDep) -> JSONResponse:
    checks = await runtime.readiness()
    ok = all(checks.values())
    return JSONResponse(
        {"status": "ready" if ok else "not ready", "checks": checks},
        status_code=200 if ok else 503,
    )


def create_service_app(runtime: Runtime, routers: Sequence[APIRouter], *, title: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=title, lifespan=lifespan)
    app.state.runtime = runtime
    app.include_router(health)
    if runtime.consumers:
        app.include_router(admin.router)
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
