"""HTTP admin endpoints of a consuming service: its dead letters, listed, shown, replayed
and purged. Protected by a bearer token when `ADMIN_TOKEN` is set."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.messaging.dead_letters import DeadLetterQueue, Outcome, Selection, UnknownQueue
from shared.web.admin_auth import require_admin
from shared.web.deps import DeadLettersDep
from shared.web.errors import error_responses
from shared.web.json_body import JSON_BODY_ERRORS, require_json

router = APIRouter(
    prefix="/admin/dead-letters",
    tags=["admin"],
    dependencies=[Depends(require_admin)],
    responses=error_responses(401),
)
# A queue's routes: an unknown queue is a 404; the broker unreachable, a 503.
ON_A_QUEUE = error_responses(404, 422, 503)
WITH_A_SELECTION = error_responses(404, 503, *JSON_BODY_ERRORS)


def _one_of_them(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": [name], "properties": {name: schema}}


class SelectionRequest(BaseModel):
    """Which dead letters to act on: by ids, by filter, or all (explicitly)."""

    # The JSON schema says what the validator below says: at least one of them.
    model_config = ConfigDict(
        strict=True,
        json_schema_extra={
            "anyOf": [
                _one_of_them("message_ids", {"type": "array", "minItems": 1}),
                _one_of_them("event_type", {"type": "string", "minLength": 1}),
                _one_of_them("error_type", {"type": "string", "minLength": 1}),
                _one_of_them("reason_contains", {"type": "string", "minLength": 1}),
                _one_of_them("all", {"const": True}),
            ]
        },
    )

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


async def _open(desk: DeadLettersDep, queue: str) -> DeadLetterQueue:
    try:
        return await desk.open(queue)
    except UnknownQueue as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except ConnectionError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc)) from exc


def _outcome(outcome: Outcome) -> dict[str, Any]:
    return {
        "matched": outcome.matched,
        "done": outcome.done,
        "failed": outcome.failed,
        "scanned": outcome.scanned,
    }


@router.get("")
async def queues(desk: DeadLettersDep) -> list[dict[str, str]]:
    return [
        {"queue": spec.name, "dead_letter_queue": spec.dead_letter_queue}
        for spec in desk.queues.values()
    ]


@router.get("/{queue}", responses=ON_A_QUEUE)
async def list_dead_letters(
    queue: str, desk: DeadLettersDep, limit: Annotated[int, Query(ge=1, le=10_000)] = 100
) -> list[dict[str, Any]]:
    dlq = await _open(desk, queue)
    return [letter.summary() for letter in await dlq.peek(limit)]


@router.get("/{queue}/{message_id}", responses=ON_A_QUEUE)
async def show_dead_letter(
    queue: str, message_id: str, desk: DeadLettersDep
) -> list[dict[str, Any]]:
    dlq = await _open(desk, queue)
    found = await dlq.find(message_id)
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no dead letter {message_id}")
    return [letter.detail() for letter in found]


@router.post("/{queue}/replay", dependencies=[Depends(require_json)], responses=WITH_A_SELECTION)
async def replay(queue: str, body: SelectionRequest, desk: DeadLettersDep) -> dict[str, Any]:
    dlq = await _open(desk, queue)
    return _outcome(await dlq.replay(body.selection()))


@router.post("/{queue}/purge", dependencies=[Depends(require_json)], responses=WITH_A_SELECTION)
async def purge(queue: str, body: SelectionRequest, desk: DeadLettersDep) -> dict[str, Any]:
    dlq = await _open(desk, queue)
    return _outcome(await dlq.purge(body.selection()))
