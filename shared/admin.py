"""HTTP admin endpoints of a consuming service: its dead letters, listed, shown, replayed
and purged. Protected by a bearer token when `ADMIN_TOKEN` is set."""

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, status
from pydantic import BaseModel, Field, model_validator

from shared.dead_letters import DeadLetterQueue, Outcome, Selection
from shared.deps import RuntimeDep
from shared.runtime import Runtime


def _authorized(runtime: RuntimeDep, authorization: Annotated[str | None, Header()] = None) -> None:
    token = runtime.settings.admin_token
    if token is None:
        return
    expected = f"Bearer {token.get_secret_value()}"
    if authorization is None or not secrets.compare_digest(authorization, expected):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="admin token required",
            headers={"WWW-Authenticate": "Bearer"},
        )


router = APIRouter(
    prefix="/admin/dead-letters", tags=["admin"], dependencies=[Depends(_authorized)]
)


class SelectionRequest(BaseModel):
    """Which dead letters to act on: by ids, by filter, or all (explicitly)."""

    message_ids: list[str] = Field(default_factory=list)
    event_type: str | None = None
    error_type: str | None = None
    reason_contains: str | None = None
    all: bool = False

    @model_validator(mode="after")
    def _not_empty(self) -> "SelectionRequest":
        if self.selection().is_empty:
            raise ValueError("select messages by message_ids, a filter, or all=true")
        return self

    def selection(self) -> Selection:
        return Selection(
            message_ids=frozenset(self.message_ids),
            event_type=self.event_type,
            error_type=self.error_type,
            reason_contains=self.reason_contains,
            everything=self.all,
        )


async def _queue(runtime: Runtime, queue: str) -> DeadLetterQueue:
    spec = next((c.spec for c in runtime.consumers if c.name == queue), None)
    if spec is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"{queue} is not consumed here")
    if not runtime.broker.is_ready:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="broker unavailable")
    return DeadLetterQueue(await runtime.broker.connected(), spec)


def _outcome(outcome: Outcome) -> dict[str, Any]:
    return {
        "matched": outcome.matched,
        "done": outcome.done,
        "failed": outcome.failed,
        "scanned": outcome.scanned,
    }


@router.get("")
async def queues(runtime: RuntimeDep) -> list[dict[str, str]]:
    return [
        {"queue": c.name, "dead_letter_queue": c.spec.dead_letter_queue} for c in runtime.consumers
    ]


@router.get("/{queue}")
async def list_dead_letters(
    queue: str, runtime: RuntimeDep, limit: Annotated[int, Query(ge=1, le=10_000)] = 100
) -> list[dict[str, Any]]:
    dlq = await _queue(runtime, queue)
    return [letter.summary() for letter in await dlq.peek(limit)]


@router.get("/{queue}/{message_id}")
async def show_dead_letter(
    queue: str, message_id: str, runtime: RuntimeDep
) -> list[dict[str, Any]]:
    dlq = await _queue(runtime, queue)
    found = await dlq.find(message_id)
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no dead letter {message_id}")
    return [letter.detail() for letter in found]


@router.post("/{queue}/replay")
async def replay(queue: str, body: SelectionRequest, runtime: RuntimeDep) -> dict[str, Any]:
    dlq = await _queue(runtime, queue)
    return _outcome(await dlq.replay(body.selection()))


@router.post("/{queue}/purge")
async def purge(queue: str, body: SelectionRequest, runtime: RuntimeDep) -> dict[str, Any]:
    dlq = await _queue(runtime, queue)
    return _outcome(await dlq.purge(body.selection()))
