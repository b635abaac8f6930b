"""Every HEALTH_INTERVAL seconds: the broker's queues (`broker_health`), and the dead
letters of any work queue whose dead-letter queue holds some (or held some last time), read
from the service that consumes it and tied to their orders through the index. Those of no
known order (a forged message naming none, say) are told as the order None."""

import asyncio
import functools
import logging
from collections.abc import Callable

from sqlalchemy import Connection

from audit_service.adapters.broker_health import BrokerHealth, BrokerWatch
from audit_service.adapters.repository import SqlDeadLetters, SqlEventIndex
from audit_service.adapters.services import Services, ServiceUnavailable
from audit_service.domain.model import DeadLetterSighting
from shared.persistence.database import Database

log = logging.getLogger(__name__)


class HealthWatch:
    def __init__(
        self,
        db: Database,
        broker: BrokerWatch,
        services: Services,
        *,
        interval: float,
        on_health: Callable[[BrokerHealth], None] = lambda health: None,
        on_changed: Callable[[set[str | None]], None] = lambda ids: None,
    ) -> None:
        self._db = db
        self._broker = broker
        self._services = services
        self._interval = interval
        self.on_health = on_health
        self.on_changed = on_changed
        self.latest: BrokerHealth | None = None
        self.dead_letter_errors: dict[str, str] = {}
        self._had_dead_letters: set[str] = set()

    async def run(self) -> None:
        while True:
            try:
                await self.round()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading the broker's health failed; trying again")
            await asyncio.sleep(self._interval)

    async def round(self) -> None:
        health = await self._broker.read()
        changed: set[str | None] = set()
        for queue in health.queues:
            if queue.dead_letters == 0 and queue.name not in self._had_dead_letters:
                continue
            try:
                letters = await self._services.dead_letters(queue.name)
            except ServiceUnavailable as exc:
                self.dead_letter_errors[queue.name] = str(exc)[:200]
                continue
            self.dead_letter_errors.pop(queue.name, None)
            if letters:
                self._had_dead_letters.add(queue.name)
            else:
                self._had_dead_letters.discard(queue.name)
            changed |= await self._db.run(
                functools.partial(_record, queue=queue.name, letters=letters)
            )
        self.latest = health
        self.on_health(health)
        if changed:
            self.on_changed(changed)


def _record(conn: Connection, *, queue: str, letters: list[DeadLetterSighting]) -> set[str | None]:
    orders = SqlEventIndex(conn).orders_of_events(letter.message_id for letter in letters)
    tied = [
        DeadLetterSighting(
            letter.queue,
            letter.message_id,
            orders.get(letter.message_id),
            letter.event_type,
            letter.reason,
            letter.attempts,
            letter.seen_at,
            letter.present,
        )
        for letter in letters
    ]
    return set(SqlDeadLetters(conn).record(queue, tied))
