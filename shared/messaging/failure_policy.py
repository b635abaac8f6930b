"""What becomes of a message whose processing failed: retried after a delay, or
dead-lettered with the reason. A pure function of the message's headers, the error and
the retry schedule, so every case is a line in a table test.

- A message that can never succeed (`InvalidMessage`: not JSON, not a CloudEvent, data
  failing its schema; a handler's `PermanentError`, or a pydantic `ValidationError` that a
  handler ran into: the same data fails the same way on every attempt) is dead-lettered
  at once.
- Anything else is retried after `schedule[n]` seconds on its n-th failure (n from 0),
  and dead-lettered once the schedule is spent: `len(schedule) + 1` attempts in all.
- The headers of the copy keep the original's (but what the broker sets on delivery) and
  say how it failed: first and last failure time, error type and message, and for a dead
  letter the reason, the attempts, the service and the queue it failed in.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from shared.contract import headers as h
from shared.contract.envelope import InvalidMessage
from shared.contract.signing import Untrusted
from shared.core.handlers import PermanentError

MAX_TEXT = 4000


@dataclass(frozen=True)
class Retry:
    delay_seconds: float
    attempt: int  # this failure's number: 1 for the first
    headers: dict[str, Any]


@dataclass(frozen=True)
class DeadLetter:
    reason: str
    attempts: int
    headers: dict[str, Any]


Decision = Retry | DeadLetter


def attempts_so_far(headers: Mapping[str, Any]) -> int:
    """Failed attempts recorded on a message (0 for a first delivery or a bad header)."""
    value = headers.get(h.RETRY_ATTEMPT, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def is_permanent(error: BaseException) -> bool:
    return isinstance(error, PermanentError | InvalidMessage | ValidationError)


def reason_class(error: BaseException) -> str:
    """The kind of a dead letter's reason, for metrics: invalid, untrusted, permanent or
    exhausted (every retry failed)."""
    if isinstance(error, Untrusted):
        return "untrusted"
    if isinstance(error, InvalidMessage):
        return "invalid"
    if isinstance(error, PermanentError | ValidationError):
        return "permanent"
    return "exhausted"


def decide(
    headers: Mapping[str, Any],
    error: BaseException,
    *,
    schedule: Sequence[float],
    service: str,
    queue: str,
    now: datetime,
) -> Decision:
    attempt = attempts_so_far(headers) + 1
    kept = {k: v for k, v in headers.items() if k not in h.SET_BY_BROKER_ON_DELIVERY}
    first = headers.get(h.FIRST_FAILURE_AT)
    failure = {
        h.ERROR_TYPE: type(error).__name__,
        h.ERROR_MESSAGE: str(error)[:MAX_TEXT],
        h.FIRST_FAILURE_AT: first if isinstance(first, str) else now.isoformat(),
        h.LAST_FAILURE_AT: now.isoformat(),
    }
    if not is_permanent(error) and attempt <= len(schedule):
        return Retry(schedule[attempt - 1], attempt, {**kept, h.RETRY_ATTEMPT: attempt, **failure})
    reason = f"{type(error).__name__}: {error}"[:MAX_TEXT]
    return DeadLetter(
        reason,
        attempt,
        {
            **kept,
            **failure,
            h.DEAD_LETTER_REASON: reason,
            h.ATTEMPTS: attempt,
            h.SERVICE: service,
            h.ORIGINAL_QUEUE: queue,
        },
    )
