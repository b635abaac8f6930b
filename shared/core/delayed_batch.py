"""Items written together a moment later: the outbox relay's published marks and the
notification sender's sent marks, one statement for many instead of one each."""

import asyncio
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class DelayedBatch(Generic[T]):
    """Collects items to write in one go. `take()` hands them all over once `size` are
    waiting, once the oldest has waited `delay` seconds, or at once when asked (`now`);
    before that it returns nothing and arranges for `wake` to be called when the oldest's
    delay is up, so that the owner's loop comes back to take them."""

    def __init__(self, size: int, delay: float, wake: Callable[[], None]) -> None:
        self._size = size
        self._delay = delay
        self._wake = wake
        self._items: list[T] = []
        self._since = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def add(self, items: Iterable[T]) -> None:
        if not self._items:
            self._since = asyncio.get_running_loop().time()
        self._items.extend(items)

    def take(self, *, now: bool = False) -> list[T]:
        if not self._items:
            return []
        loop = asyncio.get_running_loop()
        waited = loop.time() - self._since
        if not now and len(self._items) < self._size and waited < self._delay:
            if self._timer is None:
                self._timer = loop.call_later(self._delay - waited, self._due)
            return []
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        items, self._items = self._items, []
        return items

    def _due(self) -> None:
        self._timer = None
        self._wake()
