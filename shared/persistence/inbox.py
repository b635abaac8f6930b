"""The inbox: which events a consumer has already applied.

A row is written in the same transaction as the handler's effect, so "applied" and
"recorded as applied" can never disagree; a redelivered event finds its row and is
acknowledged without running its handler again.
"""

from collections.abc import Iterable

from sqlalchemy import Column, Connection, MetaData, String, Table

from shared.persistence.sql import UTCDateTime, insert_ignoring_duplicates, utcnow


def inbox_table(metadata: MetaData) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("consumer", String(255), primary_key=True),
        Column("event_id", String(255), primary_key=True),
        Column("event_type", String(255), nullable=False),
        Column("received_at", UTCDateTime(), nullable=False),
    )


class SqlInbox:
    def __init__(self, conn: Connection, table: Table) -> None:
        self._conn = conn
        self._table = table

    def record_new(self, consumer: str, events: Iterable[tuple[str, str]]) -> set[str]:
        """Record (event id, type) pairs for `consumer`; return the ids not seen before.

        On PostgreSQL a concurrent transaction inserting the same id makes this one wait
        for it, then skip the id: two deliveries of one event can never both be applied.
        """
        now = utcnow()
        rows = {
            event_id: {
                "consumer": consumer,
                "event_id": event_id,
                "event_type": event_type,
                "received_at": now,
            }
            for event_id, event_type in events
        }
        if not rows:
            return set()
        stmt = insert_ignoring_duplicates(self._conn, self._table).returning(self._table.c.event_id)
        result = self._conn.execute(stmt, list(rows.values()))
        return {row.event_id for row in result}
