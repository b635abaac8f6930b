"""Waiting for a state with a deadline instead of sleeping: poll, and fail with the last
value seen when the deadline passes."""

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


class Deadline:
    def __init__(self, timeout: float, what: str) -> None:
        self.timeout = timeout
        self.what = what
        self._at = time.monotonic() + timeout

    def check(self, last: object) -> None:
        if time.monotonic() > self._at:
            raise AssertionError(
                f"{self.what} not reached within {self.timeout}s; last value: {last!r}"
            )


@overload
async def eventually(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], bool],
    *,
    timeout: float = ...,
    interval: float = ...,
    what: str = ...,
) -> T: ...


@overload
async def eventually(
    probe: Callable[[], T],
    until: Callable[[T], bool],
    *,
    timeout: float = ...,
    interval: float = ...,
    what: str = ...,
) -> T: ...


async def eventually(
    probe: Callable[[], Any],
    until: Callable[[Any], bool],
    *,
    timeout: float = 30.0,
    interval: float = 0.1,
    what: str = "condition",
) -> Any:
    """Poll `probe` (sync or async) until `until(result)` holds; fail with the last result
    at the deadline."""
    deadline = Deadline(timeout, what)
    while True:
        outcome = probe()
        result = await outcome if inspect.isawaitable(outcome) else outcome
        if until(result):
            return result
        deadline.check(result)
        await asyncio.sleep(interval)


def eventually_blocking(
    probe: Callable[[], T],
    until: Callable[[T], bool],
    *,
    timeout: float = 30.0,
    interval: float = 0.5,
    what: str = "condition",
) -> T:
    """`eventually` for code with no event loop (the compose tests): it holds the thread
    between polls, so it polls less often."""
    deadline = Deadline(timeout, what)
    while not until(result := probe()):
        deadline.check(result)
        time.sleep(interval)
    return result
