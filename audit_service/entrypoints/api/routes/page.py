"""The live page: its HTML (history: the latest orders), its updates (server-sent events),
its own CSS and JavaScript (same origin only: the stack runs offline), the order form's way
to the order service, and the dead letters it links to.

The form posts here and the audit service forwards it (a same-origin proxy, rather than
CORS on the order service): the page then works wherever the audit service alone is
reachable, and the order service lets no other origin in."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request, status
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from audit_service.adapters.services import ServiceUnavailable
from audit_service.entrypoints import render
from audit_service.entrypoints.deps import BoardDep, HealthDep, LinksDep, ServicesDep, ViewsDep
from shared.contract.topology import QUEUES
from shared.web.admin_auth import require_admin
from shared.web.errors import error_responses

router = APIRouter(tags=["page"])

STATIC = Path(__file__).resolve().parents[2] / "static"
ASSETS = {
    "page.css": "text/css; charset=utf-8",
    "page.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
# Only what the page's own origin serves: no CDN, no inline script or style.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
KEEP_ALIVE_SECONDS = 15.0
WORK_QUEUES = {spec.name for spec in QUEUES}


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def live_page(
    views: ViewsDep, health: HealthDep, links: LinksDep, request: Request
) -> HTMLResponse:
    limit: int = request.app.state.page_orders
    journeys, orphans, letters = await views.recent(limit)
    html = render.page(journeys, orphans, letters, health.latest, links)
    return HTMLResponse(html, headers={**SECURITY_HEADERS, "Cache-Control": "no-store"})


@router.get("/cards", response_class=HTMLResponse, include_in_schema=False)
async def cards(views: ViewsDep, links: LinksDep, request: Request) -> HTMLResponse:
    """The latest orders' cards: what a page reloads after it lost its live stream."""
    limit: int = request.app.state.page_orders
    journeys, _, _ = await views.recent(limit)
    return HTMLResponse(
        "\n".join(render.card(j, links) for j in journeys),
        headers={**SECURITY_HEADERS, "Cache-Control": "no-store"},
    )


@router.get("/static/{name}", include_in_schema=False)
async def asset(name: str) -> Response:
    if name not in ASSETS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no asset {name[:64]}")
    content = await asyncio.to_thread((STATIC / name).read_bytes)
    return Response(content, media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})


# Not in the OpenAPI document, like the page: a stream that never ends is for browsers.
@router.get("/live", response_class=StreamingResponse, include_in_schema=False)
async def live(board: BoardDep) -> StreamingResponse:
    """Server-sent events: `order` (an order's card, whole, with its status and event ids),
    `health` (the broker panel), `orphans` (messages of no order)."""
    queue = board.subscribe()

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n\n"
            while True:
                try:
                    # Not wait_for, which on Python 3.11 can swallow a cancel (shutdown).
                    async with asyncio.timeout(KEEP_ALIVE_SECONDS):
                        message = await queue.get()
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if message is None:
                    return
                yield message
        finally:
            board.unsubscribe(queue)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# The page's way to the order service: its answers are that service's (see its document).
@router.post("/proxy/orders", include_in_schema=False)
async def place_order(
    request: Request,
    services: ServicesDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """`POST /orders` of the order service, forwarded as it is: its answer comes back."""
    if not (request.headers.get("content-type") or "").startswith("application/json"):
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, detail="send JSON")
    body = await request.body()
    try:
        code, content, media_type = await services.place_order(body, idempotency_key)
    except ServiceUnavailable as exc:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, detail=str(exc)[:300]) from exc
    return Response(content, status_code=code, media_type=media_type or "application/json")


@router.get(
    "/dead-letters",
    dependencies=[Depends(require_admin)],
    responses=error_responses(401),
    tags=["admin"],
)
async def dead_letter_queues(services: ServicesDep) -> list[dict[str, Any]]:
    """The work queues whose dead letters are listed at `/dead-letters/{queue}`."""
    return [{"queue": spec.name, "dead_letter_queue": spec.dead_letter_queue} for spec in QUEUES]


@router.get(
    "/dead-letters/{queue}",
    dependencies=[Depends(require_admin)],
    responses={**error_responses(401, 404), 502: {"description": "No answer"}},
    tags=["admin"],
)
async def dead_letters(queue: str, services: ServicesDep) -> list[dict[str, Any]]:
    """A work queue's dead letters, from the service that consumes it (its
    `/admin/dead-letters/{queue}`)."""
    if queue not in WORK_QUEUES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"{queue[:100]} is no work queue")
    try:
        letters = await services.dead_letters(queue)
    except ServiceUnavailable as exc:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, detail=str(exc)[:300]) from exc
    return [
        {
            "message_id": d.message_id,
            "type": d.event_type,
            "reason": d.reason,
            "attempts": d.attempts,
            "last_failure_at": d.seen_at.isoformat(),
        }
        for d in letters
    ]
