"""The event log's index: an order's events oldest first (its causal chain), the latest
events, one event by id.

An order's events are open to whoever knows its id (as `GET /orders/{id}` is); a listing
across orders shows every customer's, and needs the admin token when one is set."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials

from audit_service.entrypoints.deps import ViewsDep
from audit_service.entrypoints.render import event_json
from shared.web.admin_auth import bearer, require_admin
from shared.web.errors import error_responses

router = APIRouter(prefix="/events", tags=["events"])

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
OrderId = Annotated[str | None, Query(pattern=UUID_PATTERN)]


async def admin_unless_one_order(request: Request, order_id: OrderId = None) -> None:
    """The admin token, for a listing across orders. (Read here rather than declared as the
    operation's security scheme: with an order id, the operation needs none.)"""
    if order_id is None:
        credentials: HTTPAuthorizationCredentials | None = await bearer(request)
        await require_admin(request, credentials)


@router.get("", dependencies=[Depends(admin_unless_one_order)], responses=error_responses(401, 422))
async def list_events(
    views: ViewsDep,
    order_id: OrderId = None,
    type: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Every message of the log that names the order (`order_id`), oldest first, with its
    verdict: `genuine`, `rejected` (not proven to come from its producer: forged, say) or
    `invalid`. Without `order_id` (admin): the latest `limit` messages, oldest first."""
    if order_id is None:
        found = await views.latest(type=type, limit=limit)
    else:
        found = await views.of_order(order_id.lower(), type=type, limit=limit)
    return [event_json(event) for event in found]


@router.get("/{event_id}", responses=error_responses(404, 422))
async def get_event(
    views: ViewsDep, event_id: Annotated[str, Path(min_length=1, max_length=255)]
) -> dict[str, Any]:
    """The event with this id: its first genuine copy in the log, else its first copy."""
    found = await views.by_id(event_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no event {event_id[:100]}")
    return event_json(found)
