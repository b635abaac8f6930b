from typing import Protocol

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

router = APIRouter(prefix="/health", tags=["health"])


class ReadinessBody(BaseModel):
    status: str  # "ready" | "not ready"
    checks: dict[str, bool]


class Readiness(Protocol):
    async def readiness(self) -> dict[str, bool]: ...


@router.get("/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    responses={
        200: {"model": ReadinessBody, "description": "Database, broker and consumers are up"},
        503: {"model": ReadinessBody, "description": "Not ready: `checks` says what is down"},
    },
)
async def ready(request: Request) -> JSONResponse:
    host: Readiness = request.app.state.host
    checks = await host.readiness()
    ok = all(checks.values())
    return JSONResponse(
        {"status": "ready" if ok else "not ready", "checks": checks},
        status_code=200 if ok else 503,
    )
