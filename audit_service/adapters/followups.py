"""Following an order after its events: the stream carries what the services publish, but
an order's status and its notifications are only in the order and notification services'
APIs. While an order has something to come (and for FOLLOW_UP_SECONDS after its last event
at most), those APIs are read every FOLLOW_UP_INTERVAL seconds: one request each for all
the orders followed, never one per order per round, and none when nothing is followed."""

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from audit_service.adapters.repository import SqlObservations
from audit_service.adapters.services import Services, ServiceUnavailable
from audit_service.domain.model import IndexedEvent, Observation, wants_follow_up
from shared.persistence.database import Database

log = logging.getLogger(__name__)


class FollowUps:
    def __init__(
        self,
        db: Database,
        services: Services,
        *,
        window_seconds: float,
        interval: float,
        on_changed: Callable[[set[str]], None] = lambda ids: None,
    ) -> None:
        self._db = db
        self._services = services
        self._window = window_seconds
        self._interval = interval
        self.on_changed = on_changed
        self._followed: dict[str, float] = {}  # order id -> until (monotonic)
        self._wakeup = asyncio.Event()

    @property
    def followed(self) -> int:
        return len(self._followed)

    def watch(self, rows: Iterable[IndexedEvent]) -> None:
        """Follow the orders of freshly indexed events (not those of an old replay)."""
        recent = datetime.now(UTC) - timedelta(seconds=self._window)
        until = time.monotonic() + self._window
        for row in rows:
            if row.order_id and row.verdict == "genuine" and row.time and row.time > recent:
                self._followed[row.order_id] = until
                self._wakeup.set()

    async def run(self) -> None:
        while True:
            if not self._followed:
                await self._wakeup.wait()
            self._wakeup.clear()
            try:
                await self.round()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("following orders failed; trying again")
            await asyncio.sleep(self._interval)

    async def round(self) -> None:
        now = time.monotonic()
        self._followed = {i: until for i, until in self._followed.items() if until > now}
        ids = list(self._followed)
        if not ids:
            return
        found: list[Observation] = []
        for read in (self._services.statuses, self._services.notifications):
            try:
                found += await read(ids)
            except ServiceUnavailable as exc:
                log.debug("could not follow orders: %s", exc)

        def record(conn: Connection) -> tuple[list[Observation], list[Observation]]:
            repository = SqlObservations(conn)
            return repository.record(found), repository.of_orders(ids)

        changed, observed = await self._db.run(record)
        for order_id in ids:
            if not wants_follow_up([o for o in observed if o.order_id == order_id]):
                self._followed.pop(order_id, None)
        if changed:
            self.on_changed({o.order_id for o in changed})
