"""Read-only queries for the API and the page, on a reader connection."""

from collections.abc import Sequence

from sqlalchemy import Connection

from audit_service.adapters.repository import SqlDeadLetters, SqlEventIndex, SqlObservations
from audit_service.domain.model import (
    DeadLetterSighting,
    IndexedEvent,
    Journey,
    Observation,
    journey,
)
from shared.persistence.database import Database


class AuditViews:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def of_order(self, order_id: str, *, type: str | None, limit: int) -> list[IndexedEvent]:
        return await self._db.read(
            lambda conn: SqlEventIndex(conn).of_order(order_id, type=type, limit=limit)
        )

    async def latest(self, *, type: str | None, limit: int) -> list[IndexedEvent]:
        return await self._db.read(lambda conn: SqlEventIndex(conn).latest(type=type, limit=limit))

    async def by_id(self, event_id: str) -> IndexedEvent | None:
        return await self._db.read(lambda conn: SqlEventIndex(conn).by_id(event_id))

    async def journeys(self, order_ids: Sequence[str]) -> list[Journey]:
        return await self._db.read(lambda conn: _journeys(conn, order_ids))

    async def recent(
        self, limit: int
    ) -> tuple[list[Journey], list[IndexedEvent], list[DeadLetterSighting]]:
        """The latest orders' journeys (latest first), and the latest messages that name no
        order: forged or invalid ones, and dead letters of no known order."""

        def read(
            conn: Connection,
        ) -> tuple[list[Journey], list[IndexedEvent], list[DeadLetterSighting]]:
            ids = SqlEventIndex(conn).recent_orders(limit)
            orphans = SqlEventIndex(conn).orphans(10)
            return _journeys(conn, ids), orphans, SqlDeadLetters(conn).unattached(10)

        return await self._db.read(read)

    async def orphans(self) -> tuple[list[IndexedEvent], list[DeadLetterSighting]]:
        return await self._db.read(
            lambda conn: (SqlEventIndex(conn).orphans(10), SqlDeadLetters(conn).unattached(10))
        )

    async def observed(self, order_ids: Sequence[str]) -> list[Observation]:
        return await self._db.read(lambda conn: SqlObservations(conn).of_orders(order_ids))


def _journeys(conn: Connection, order_ids: Sequence[str]) -> list[Journey]:
    ids = list(order_ids)
    events = SqlEventIndex(conn).of_orders(ids)
    observed = SqlObservations(conn).of_orders(ids)
    letters = SqlDeadLetters(conn).of_orders(ids)
    return [
        journey(
            order_id,
            [e for e in events if e.order_id == order_id],
            [o for o in observed if o.order_id == order_id],
            [d for d in letters if d.order_id == order_id],
        )
        for order_id in ids
    ]
