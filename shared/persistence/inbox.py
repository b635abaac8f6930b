"""The inbox: which events a consumer has already applied.

A row is written in the same transaction as the handler's effect, so "applied" and
"recorded as applied" can never disagree; a redelivered event finds its row and is
acknowledged without running its handler again.
"""

from collections.abc import Iterable

from sqlalchemy import Column, Connection, Index, MetaData, String, Table

from shared.persistence.plain_sql import PlainSql
from shared.persistence.sql import UTCDateTime, utcnow


def inbox_table(metadata: MetaData) -> Table:
    table = Table(
        "inbox",
        metadata,
        Column("consumer", String(255), primary_key=True),
        Column("event_id", String(255), primary_key=True),
        Column("event_type", String(255), nullable=False),
        Column("received_at", UTCDateTime(), nullable=False),
    )
    # Pruning's order on PostgreSQL; SQLite prunes in rowid order and needs no index
    # (shared.persistence.retention).
    Index("ix_inbox_received_at", table.c.received_at).ddl_if(dialect="postgresql")
    return table


class SqlInbox:
    def __init__(self, conn: Connection, table: Table) -> None:
        self._sql = PlainSql(conn)
        self._table = table.name

    def record_new(self, consumer: str, events: Iterable[tuple[str, str]]) -> set[str]:
        """Record (event id, type) pairs for `consumer`; return the ids not seen before.

        On PostgreSQL a concurrent transaction inserting the same id makes this one wait
        for it, then skip the id: two deliveries of one event can never both be applied.
        """
        unique = dict(events)
        if not unique:
            return set()
        now = self._sql.time(utcnow())
        values = ", ".join("(?, ?, ?, ?)" for _ in unique)
        params = [v for event_id, type_ in unique.items() for v in (consumer, event_id, type_, now)]
        rows = self._sql.rows(
            f"INSERT INTO {self._table} (consumer, event_id, event_type, received_at) "
            f"VALUES {values} ON CONFLICT DO NOTHING RETURNING event_id",
            params,
        )
        return {row[0] for row in rows}
