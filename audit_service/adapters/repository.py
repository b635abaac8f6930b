"""The index in SQL: rows of the stream, the offset reached, and what the other services'
APIs said (observations, dead letters)."""

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Row, func, select, update

from audit_service.adapters.tables import dead_letters, events, observations, stream_offsets
from audit_service.domain.model import DeadLetterSighting, IndexedEvent, Observation
from shared.persistence.sql import dialect_insert, insert_ignoring_duplicates

_IN_CHUNK = 500  # ids per IN (...): well under any driver's parameter limit


class SqlEventIndex:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, rows: Iterable[IndexedEvent]) -> None:
        values = [_values(row) for row in rows]
        if values:
            self._conn.execute(insert_ignoring_duplicates(self._conn, events), values)

    def genuine_ids_among(self, event_ids: Iterable[str]) -> set[str]:
        ids, found = list(event_ids), set[str]()
        for start in range(0, len(ids), _IN_CHUNK):
            query = select(events.c.event_id).where(
                events.c.event_id.in_(ids[start : start + _IN_CHUNK]),
                events.c.verdict == "genuine",
            )
            found.update(self._conn.execute(query).scalars())
        return found

    def of_order(self, order_id: str, *, type: str | None, limit: int) -> list[IndexedEvent]:
        query = select(events).where(events.c.order_id == order_id)
        if type is not None:
            query = query.where(events.c.type == type)
        rows = self._conn.execute(query.order_by(events.c.stream_offset).limit(limit))
        return [_event(row) for row in rows]

    def of_orders(self, order_ids: Sequence[str]) -> list[IndexedEvent]:
        if not order_ids:
            return []
        query = select(events).where(events.c.order_id.in_(order_ids))
        return [_event(row) for row in self._conn.execute(query.order_by(events.c.stream_offset))]

    def latest(self, *, type: str | None, limit: int) -> list[IndexedEvent]:
        """The last `limit` rows (of one type), oldest first."""
        query = select(events)
        if type is not None:
            query = query.where(events.c.type == type)
        rows = self._conn.execute(query.order_by(events.c.stream_offset.desc()).limit(limit))
        return sorted((_event(row) for row in rows), key=lambda e: e.offset)

    def by_id(self, event_id: str) -> IndexedEvent | None:
        """The event's first genuine row, else its first row of any verdict."""
        query = (
            select(events)
            .where(events.c.event_id == event_id)
            .order_by((events.c.verdict != "genuine"), events.c.stream_offset)
            .limit(1)
        )
        row = self._conn.execute(query).first()
        return None if row is None else _event(row)

    def recent_orders(self, limit: int) -> list[str]:
        """The orders with the latest events, latest first."""
        last = func.max(events.c.stream_offset).label("last")
        query = (
            select(events.c.order_id, last)
            .where(events.c.order_id.is_not(None))
            .group_by(events.c.order_id)
            .order_by(last.desc())
            .limit(limit)
        )
        return [row.order_id for row in self._conn.execute(query)]

    def orphans(self, limit: int) -> list[IndexedEvent]:
        """The latest messages that are not genuine and name no order."""
        query = (
            select(events)
            .where(events.c.order_id.is_(None), events.c.verdict != "genuine")
            .order_by(events.c.stream_offset.desc())
            .limit(limit)
        )
        return [_event(row) for row in self._conn.execute(query)]

    def orders_of_events(self, event_ids: Iterable[str]) -> dict[str, str]:
        ids, found = list(event_ids), {}
        for start in range(0, len(ids), _IN_CHUNK):
            query = select(events.c.event_id, events.c.order_id).where(
                events.c.event_id.in_(ids[start : start + _IN_CHUNK]),
                events.c.order_id.is_not(None),
            )
            found.update({row.event_id: row.order_id for row in self._conn.execute(query)})
        return found

    def count(self) -> int:
        return int(self._conn.execute(select(func.count()).select_from(events)).scalar_one())


class SqlStreamOffsets:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def advance(self, stream: str, last_offset: int) -> None:
        stmt = dialect_insert(self._conn, stream_offsets).values(
            stream=stream, last_offset=last_offset
        )
        self._conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[stream_offsets.c.stream],
                set_={"last_offset": stmt.excluded.last_offset},
            )
        )

    def last(self, stream: str) -> int | None:
        query = select(stream_offsets.c.last_offset).where(stream_offsets.c.stream == stream)
        value = self._conn.execute(query).scalar()
        return None if value is None else int(value)


class SqlObservations:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def record(self, found: Iterable[Observation]) -> list[Observation]:
        """Record what is new or changed; return it."""
        changed = []
        for observation in found:
            key = (
                observations.c.order_id == observation.order_id,
                observations.c.kind == observation.kind,
                observations.c.name == observation.name,
            )
            state = self._conn.execute(select(observations.c.state).where(*key)).scalar()
            if state == observation.state:
                continue
            if state is None:
                self._conn.execute(observations.insert().values(**_fields(observation)))
            else:
                self._conn.execute(update(observations).where(*key).values(state=observation.state))
            changed.append(observation)
        return changed

    def of_orders(self, order_ids: Sequence[str]) -> list[Observation]:
        if not order_ids:
            return []
        query = select(observations).where(observations.c.order_id.in_(order_ids))
        return [
            Observation(row.order_id, row.kind, row.name, row.state, row.at)
            for row in self._conn.execute(query.order_by(observations.c.at))
        ]


class SqlDeadLetters:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def record(self, queue: str, present: Sequence[DeadLetterSighting]) -> list[str | None]:
        """What `queue` holds now: new sightings added, those no longer there marked so.
        The orders whose sightings changed (None: a dead letter of no known order)."""
        known = {
            row.message_id: row
            for row in self._conn.execute(select(dead_letters).where(dead_letters.c.queue == queue))
        }
        changed: set[str | None] = set()
        for letter in present:
            row = known.get(letter.message_id)
            if row is None:
                self._conn.execute(
                    insert_ignoring_duplicates(self._conn, dead_letters), [_fields(letter)]
                )
                changed.add(letter.order_id)
            elif not row.present or row.attempts != letter.attempts:
                self._conn.execute(
                    update(dead_letters)
                    .where(_letter(queue, row.message_id))
                    .values(present=True, attempts=letter.attempts, reason=letter.reason)
                )
                changed.add(row.order_id)
        still = {letter.message_id for letter in present}
        gone = [row for message_id, row in known.items() if row.present and message_id not in still]
        for row in gone:
            self._conn.execute(
                update(dead_letters).where(_letter(queue, row.message_id)).values(present=False)
            )
            changed.add(row.order_id)
        return list(changed)

    def of_orders(self, order_ids: Sequence[str]) -> list[DeadLetterSighting]:
        if not order_ids:
            return []
        query = select(dead_letters).where(dead_letters.c.order_id.in_(order_ids))
        return [
            _sighting(row) for row in self._conn.execute(query.order_by(dead_letters.c.seen_at))
        ]

    def unattached(self, limit: int) -> list[DeadLetterSighting]:
        query = (
            select(dead_letters)
            .where(dead_letters.c.order_id.is_(None), dead_letters.c.present)
            .order_by(dead_letters.c.seen_at.desc())
            .limit(limit)
        )
        return [_sighting(row) for row in self._conn.execute(query)]


def _letter(queue: str, message_id: str) -> Any:
    return (dead_letters.c.queue == queue) & (dead_letters.c.message_id == message_id)


def _values(row: IndexedEvent) -> dict[str, Any]:
    fields = _fields(row)
    fields["stream_offset"] = fields.pop("offset")
    return fields


def _fields(item: Any) -> dict[str, Any]:
    return {name: getattr(item, name) for name in item.__dataclass_fields__}


def _event(row: Row[Any]) -> IndexedEvent:
    fields = dict(row._mapping)
    fields["offset"] = fields.pop("stream_offset")
    return IndexedEvent(**fields)


def _sighting(row: Row[Any]) -> DeadLetterSighting:
    return DeadLetterSighting(**dict(row._mapping))
