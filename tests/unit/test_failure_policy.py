"""The failure policy as a table: what becomes of a message whose processing failed, given
its headers, the error and the retry schedule."""

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, Field, ValidationError

from shared.contract import headers as h
from shared.contract.envelope import InvalidMessage
from shared.contract.signing import Untrusted
from shared.core.handlers import PermanentError
from shared.messaging.failure_policy import (
    MAX_TEXT,
    DeadLetter,
    Retry,
    attempts_so_far,
    decide,
    is_permanent,
    reason_class,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SCHEDULE = (1.0, 5.0, 30.0)
SERVICE = "inventory-service"
QUEUE = "inventory.order-events"


class Line(BaseModel):
    quantity: int = Field(le=10_000)


def validation_error() -> ValidationError:
    """What a handler gets when it builds a model from data that breaks the model's rules."""
    try:
        Line(quantity=12_000)
    except ValidationError as exc:
        return exc
    raise AssertionError("12000 passed a limit of 10000")


def decide_now(
    headers: dict[str, Any], error: BaseException, schedule: tuple[float, ...] = SCHEDULE
) -> Retry | DeadLetter:
    return decide(headers, error, schedule=schedule, service=SERVICE, queue=QUEUE, now=NOW)


@pytest.mark.parametrize(
    ("previous", "delay", "attempt"),
    [
        (None, 1.0, 1),
        (0, 1.0, 1),
        (1, 5.0, 2),
        (2, 30.0, 3),
    ],
    ids=["first-delivery", "header-zero", "second-failure", "last-retry"],
)
def test_the_nth_transient_failure_is_retried_after_the_nth_delay(
    previous: int | None, delay: float, attempt: int
) -> None:
    headers = {} if previous is None else {h.RETRY_ATTEMPT: previous}

    decision = decide_now(headers, RuntimeError("database is down"))

    assert isinstance(decision, Retry)
    assert (decision.delay_seconds, decision.attempt) == (delay, attempt)
    assert decision.headers[h.RETRY_ATTEMPT] == attempt


@pytest.mark.parametrize(
    ("schedule", "previous"),
    [(SCHEDULE, 3), (SCHEDULE, 7), ((2.0,), 1), ((), 0)],
    ids=["schedule-spent", "long-past-the-schedule", "one-step-spent", "empty-schedule"],
)
def test_a_transient_failure_after_the_schedule_is_dead_lettered(
    schedule: tuple[float, ...], previous: int
) -> None:
    decision = decide_now({h.RETRY_ATTEMPT: previous}, RuntimeError("still down"), schedule)

    assert isinstance(decision, DeadLetter)
    assert decision.attempts == previous + 1
    assert decision.headers[h.ATTEMPTS] == previous + 1


def test_the_last_retry_and_then_the_dead_letter_make_len_schedule_plus_one_attempts() -> None:
    headers: dict[str, Any] = {}
    decisions: list[Retry | DeadLetter] = []
    for _ in range(len(SCHEDULE) + 2):  # bounded: a stuck counter must fail, not hang
        decisions.append(decide_now(headers, TimeoutError("slow")))
        headers = decisions[-1].headers
        if isinstance(decisions[-1], DeadLetter):
            break

    assert [d.delay_seconds for d in decisions if isinstance(d, Retry)] == list(SCHEDULE)
    dead = decisions[-1]
    assert isinstance(dead, DeadLetter)
    assert dead.attempts == len(SCHEDULE) + 1


@pytest.mark.parametrize(
    "error",
    [
        PermanentError("no order 42"),
        InvalidMessage("body is not valid JSON"),
        validation_error(),
    ],
    ids=["permanent-error", "invalid-message", "handler-validation-error"],
)
@pytest.mark.parametrize("previous", [0, 2], ids=["first-delivery", "after-two-retries"])
def test_a_message_that_can_never_succeed_is_dead_lettered_at_once(
    error: Exception, previous: int
) -> None:
    decision = decide_now({h.RETRY_ATTEMPT: previous}, error)

    assert isinstance(decision, DeadLetter)
    assert decision.attempts == previous + 1
    assert decision.reason == f"{type(error).__name__}: {error}"


@pytest.mark.parametrize(
    "value",
    [-1, "2", True, 2.0, None, [1]],
    ids=["negative", "str", "bool", "float", "none", "list"],
)
def test_a_bad_attempt_header_counts_as_no_attempt(value: Any) -> None:
    assert attempts_so_far({h.RETRY_ATTEMPT: value}) == 0

    decision = decide_now({h.RETRY_ATTEMPT: value}, RuntimeError("boom"))

    assert isinstance(decision, Retry)
    assert (decision.attempt, decision.delay_seconds) == (1, SCHEDULE[0])


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({}, 0), ({h.RETRY_ATTEMPT: 0}, 0), ({h.RETRY_ATTEMPT: 3}, 3), ({"other": 5}, 0)],
    ids=["no-header", "zero", "three", "other-header"],
)
def test_attempts_so_far_reads_the_attempt_header(headers: dict[str, Any], expected: int) -> None:
    assert attempts_so_far(headers) == expected


@pytest.mark.parametrize(
    ("error", "previous"),
    [(RuntimeError("boom"), 0), (RuntimeError("boom"), 3), (PermanentError("never"), 0)],
    ids=["retry", "dead-letter-after-retries", "dead-letter-at-once"],
)
def test_the_copy_keeps_the_original_headers_but_the_delivery_count(
    error: Exception, previous: int
) -> None:
    original = {
        "traceparent": "00-abc-def-01",
        h.REPLAY_COUNT: 1,
        h.DELIVERY_COUNT: 4,
        h.RETRY_ATTEMPT: previous,
    }

    decision = decide_now(original, error)

    assert h.DELIVERY_COUNT not in decision.headers
    assert decision.headers["traceparent"] == "00-abc-def-01"
    assert decision.headers[h.REPLAY_COUNT] == 1
    assert original[h.DELIVERY_COUNT] == 4  # the delivery's own headers are left alone


@pytest.mark.parametrize(
    ("error", "previous"),
    [(RuntimeError("boom"), 1), (RuntimeError("boom"), 3), (PermanentError("never"), 1)],
    ids=["retry", "dead-letter-after-retries", "permanent"],
)
def test_the_first_failure_time_is_kept_from_the_first_failure(
    error: Exception, previous: int
) -> None:
    first = "2024-04-30T08:00:00+00:00"

    decision = decide_now({h.RETRY_ATTEMPT: previous, h.FIRST_FAILURE_AT: first}, error)

    assert decision.headers[h.FIRST_FAILURE_AT] == first
    assert decision.headers[h.LAST_FAILURE_AT] == NOW.isoformat()


def test_a_first_failure_is_timed_now() -> None:
    decision = decide_now({}, RuntimeError("boom"))

    assert decision.headers[h.FIRST_FAILURE_AT] == NOW.isoformat()
    assert decision.headers[h.LAST_FAILURE_AT] == NOW.isoformat()


@pytest.mark.parametrize(
    ("error", "previous"),
    [(RuntimeError("x" * 10_000), 0), (RuntimeError("x" * 10_000), 3)],
    ids=["retry", "dead-letter"],
)
def test_the_error_message_is_cut_to_4000_characters(error: Exception, previous: int) -> None:
    decision = decide_now({h.RETRY_ATTEMPT: previous}, error)

    assert MAX_TEXT == 4000
    assert decision.headers[h.ERROR_MESSAGE] == "x" * 4000
    assert decision.headers[h.ERROR_TYPE] == "RuntimeError"
    if isinstance(decision, DeadLetter):
        assert len(decision.reason) == 4000
        assert decision.reason.startswith("RuntimeError: xxx")
        assert decision.headers[h.DEAD_LETTER_REASON] == decision.reason


@pytest.mark.parametrize(
    ("error", "previous", "attempts"),
    [
        (ValueError("bad input"), 3, 4),
        (PermanentError("no order 42"), 0, 1),
        (InvalidMessage("not a valid CloudEvent: id: Field required"), 0, 1),
    ],
    ids=["schedule-spent", "permanent-error", "invalid-message"],
)
def test_a_dead_letter_says_why_after_how_many_attempts_where(
    error: Exception, previous: int, attempts: int
) -> None:
    decision = decide_now({h.RETRY_ATTEMPT: previous}, error)

    assert isinstance(decision, DeadLetter)
    reason = f"{type(error).__name__}: {error}"
    assert decision.reason == reason
    assert decision.attempts == attempts
    assert {
        name: decision.headers[name]
        for name in (
            h.DEAD_LETTER_REASON,
            h.ATTEMPTS,
            h.SERVICE,
            h.ORIGINAL_QUEUE,
            h.ERROR_TYPE,
            h.ERROR_MESSAGE,
        )
    } == {
        h.DEAD_LETTER_REASON: reason,
        h.ATTEMPTS: attempts,
        h.SERVICE: SERVICE,
        h.ORIGINAL_QUEUE: QUEUE,
        h.ERROR_TYPE: type(error).__name__,
        h.ERROR_MESSAGE: str(error),
    }


def test_a_retry_carries_no_dead_letter_headers() -> None:
    decision = decide_now({}, RuntimeError("boom"))

    assert isinstance(decision, Retry)
    assert not {h.DEAD_LETTER_REASON, h.ATTEMPTS, h.SERVICE, h.ORIGINAL_QUEUE} & set(
        decision.headers
    )


@pytest.mark.parametrize(
    ("error", "permanent", "kind"),
    [
        (RuntimeError("database is down"), False, "exhausted"),
        (TimeoutError("slow"), False, "exhausted"),
        (ValueError("bad input"), False, "exhausted"),
        (PermanentError("no order 42"), True, "permanent"),
        (validation_error(), True, "permanent"),
        (InvalidMessage("body is not valid JSON"), True, "invalid"),
        (Untrusted("unsigned"), True, "untrusted"),
    ],
    ids=[
        "runtime-error",
        "timeout",
        "value-error",
        "permanent-error",
        "handler-validation-error",
        "invalid-message",
        "untrusted",
    ],
)
def test_what_is_permanent_and_the_class_of_its_reason(
    error: BaseException, permanent: bool, kind: str
) -> None:
    assert is_permanent(error) is permanent
    assert reason_class(error) == kind
