"""The live page's updates, as server-sent events: when an order's journey changes (an
event indexed, a status or notification seen, a dead letter found), its card is rendered
again and sent whole to every open page; the health panel likewise.

Changes are gathered and sent by one task: a burst of events for many orders is read in
one query and sent as one card per order, and a slow page never holds up the indexing (a
page that falls too far behind is dropped, and its browser reconnects and reloads)."""

import asyncio
import logging
import signal
import threading
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

import orjson

from audit_service.adapters.broker_health import BrokerHealth
from audit_service.adapters.views import AuditViews
from audit_service.domain.model import IndexedEvent
from audit_service.entrypoints import render

log = logging.getLogger(__name__)

SUBSCRIBER_BACKLOG = 2000  # messages a page may fall behind before it is dropped


class Board:
    def __init__(self, views: AuditViews, links: render.Links) -> None:
        self._views = views
        self._links = links
        self._subscribers: set[asyncio.Queue[str | None]] = set()
        self._dirty: set[str] = set()
        self._orphans_dirty = False
        self._wakeup = asyncio.Event()
        self._closed = False

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def subscribe(self) -> "asyncio.Queue[str | None]":
        queue: asyncio.Queue[str | None] = asyncio.Queue(SUBSCRIBER_BACKLOG)
        if self._closed:
            queue.put_nowait(None)
        else:
            self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: "asyncio.Queue[str | None]") -> None:
        self._subscribers.discard(queue)

    def close(self) -> None:
        """End every open stream (the service is stopping: browsers reconnect later)."""
        self._closed = True
        for queue in self._subscribers:
            _put_last(queue)
        self._subscribers.clear()

    def indexed(self, rows: Iterable[IndexedEvent]) -> None:
        for row in rows:
            if row.order_id is not None:
                self._dirty.add(row.order_id)
            elif row.verdict != "genuine":
                self._orphans_dirty = True
        self._wakeup.set()

    def orders_changed(self, order_ids: Iterable[str | None]) -> None:
        for order_id in order_ids:
            if order_id is None:
                self._orphans_dirty = True
            else:
                self._dirty.add(order_id)
        self._wakeup.set()

    def health_changed(self, health: BrokerHealth) -> None:
        self._send("health", {"html": render.health_panel(health)})

    async def run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            dirty, self._dirty = self._dirty, set()
            orphans, self._orphans_dirty = self._orphans_dirty, False
            try:
                await self._flush(sorted(dirty), orphans)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not send the page's updates")
                await asyncio.sleep(0.5)

    async def _flush(self, order_ids: list[str], orphans: bool) -> None:
        if not self._subscribers:
            return
        if order_ids:
            for journey in await self._views.journeys(order_ids):
                events = [h.event_id for h in journey.hops if h.event_id and not h.bad]
                self._send(
                    "order",
                    {
                        "order_id": journey.order_id,
                        "status": journey.status,
                        "events": events,
                        "html": render.card(journey, self._links),
                    },
                )
        if orphans:
            orphaned, letters = await self._views.orphans()
            self._send("orphans", {"html": render.orphans_panel(orphaned, letters)})

    def _send(self, name: str, payload: dict[str, Any]) -> None:
        message = f"event: {name}\ndata: {orjson.dumps(payload).decode()}\n\n"
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                log.warning("a live page fell %d messages behind: dropped", SUBSCRIBER_BACKLOG)
                self._subscribers.discard(queue)
                _put_last(queue)


def _put_last(queue: "asyncio.Queue[str | None]") -> None:
    while True:
        try:
            queue.put_nowait(None)
            return
        except asyncio.QueueFull:
            queue.get_nowait()


def closing_on_exit_signals(board: Board) -> Callable[[], Coroutine[Any, Any, None]]:
    """A background job that ends the live streams as soon as the process is asked to stop
    (SIGTERM, SIGINT). uvicorn lets open responses finish before it stops the app, and a
    live stream never finishes by itself: without this, every stop would wait out the
    graceful-shutdown timeout while a page is open. The server's own handlers still run."""

    async def job() -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        installed: dict[signal.Signals, Any] = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(sig)
            if not callable(previous):
                continue

            def handler(number: int, frame: Any, previous: Callable[..., Any] = previous) -> None:
                loop.call_soon_threadsafe(board.close)
                previous(number, frame)

            signal.signal(sig, handler)
            installed[sig] = (handler, previous)
        try:
            await asyncio.Event().wait()
        finally:
            for sig, (handler, previous) in installed.items():
                if signal.getsignal(sig) is handler:
                    signal.signal(sig, previous)

    return job
