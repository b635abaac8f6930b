"""Tables that stay small: inbox and outbox rows deleted once they are old enough to be of
no more use, a small batch at a time, so that pruning never holds up the handlers that
write these tables.

The inbox. A row says "this event was applied here"; it is read only when the same event
comes again. A copy can come again when its consumer died before its ack (the broker
redelivers within seconds), when the producer's relay published it twice (a confirm lost:
the sweep publishes it again after its lease, seconds, or once the broker is back after an
outage), or when a copy waited behind a backlog (minutes to hours: the backlog benchmark
drains a million in under an hour). A dead letter is never a copy of an applied event: its
delivery was not applied. So `INBOX_RETENTION_SECONDS` (7 days by default) is far longer
than any of these can take; and past it nothing is doubled either, because the domain's own
keys still hold: one reservation per order (a second OrderPlaced for it is ignored), one
notification per (order, kind) (a unique key), an order's status moves once from PENDING
(a repeated outcome changes nothing). The inbox is the first guard, the keys the last.

The outbox. A published row is never read again (the relay claims unpublished rows only);
it is kept `OUTBOX_RETENTION_SECONDS` (1 day) to look at, then deleted.

How. On PostgreSQL each batch deletes the oldest rows past the retention through an index
(created by the migrations), `FOR UPDATE SKIP LOCKED` so that replicas pruning the same
table share the work. SQLite has one writer for the whole file: each batch is one short
write transaction that reads the next rows in rowid order (the order they were written in)
and deletes those past the retention, and stops at the first row written after the cutoff;
no index is needed, so the handlers' inserts cost nothing more. Between batches the pruner
pauses (at least as long as the batch took), so writers queued behind it go first.
"""

import asyncio
import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from shared.persistence.database import Database
from shared.persistence.plain_sql import PlainSql
from shared.persistence.sql import utcnow
from shared.telemetry.metrics import Metrics

log = logging.getLogger(__name__)

DEFAULT_BATCH = 500
DEFAULT_PAUSE = 0.05


@dataclass(frozen=True)
class PruneRule:
    """Delete rows of `table` whose `pruned_by` time is older than `retention`. `keys`
    name a row (PostgreSQL); `written_at` is a time that grows with the order rows are
    written in (SQLite's scan stops at the first row written after the cutoff: `pruned_by`
    is never earlier than it)."""

    table: str
    keys: tuple[str, ...]
    pruned_by: str
    retention: timedelta
    written_at: str = ""

    @property
    def scan_column(self) -> str:
        return self.written_at or self.pruned_by


def inbox_rule(retention_seconds: float, table: str = "inbox") -> PruneRule:
    return PruneRule(
        table, ("consumer", "event_id"), "received_at", timedelta(seconds=retention_seconds)
    )


def outbox_rule(retention_seconds: float, table: str = "outbox") -> PruneRule:
    return PruneRule(
        table, ("id",), "published_at", timedelta(seconds=retention_seconds), "created_at"
    )


class Pruner:
    def __init__(
        self,
        db: Database,
        rules: Sequence[PruneRule],
        *,
        batch_size: int = DEFAULT_BATCH,
        pause: float = DEFAULT_PAUSE,
        interval: float = 60.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._db = db
        self.rules = tuple(rules)
        self._batch = batch_size
        self._pause = pause
        self._interval = interval
        self._metrics = metrics or Metrics()

    async def run(self) -> None:
        """Prune every `interval` seconds, and report the tables' sizes; until cancelled."""
        while True:
            try:
                await self.prune()
                await self.measure()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database away: next time
                log.warning("pruning failed (%r); trying again in %.0fs", exc, self._interval)
            await asyncio.sleep(self._interval)

    async def prune(self) -> dict[str, int]:
        """Delete every row past its retention, batch by batch; how many, per table."""
        pruned = {}
        for rule in self.rules:
            pruned[rule.table] = await self._prune(rule)
        return pruned

    async def measure(self) -> dict[str, int]:
        """Rows in each table, also set as the `database_table_rows` gauge."""
        sizes = {}
        for rule in self.rules:
            count = await self._db.read(functools.partial(_count, table=rule.table))
            self._metrics.table_rows.labels(rule.table).set(count)
            sizes[rule.table] = count
        return sizes

    async def _prune(self, rule: PruneRule) -> int:
        cutoff = utcnow() - rule.retention
        total, after = 0, 0
        while True:
            started = time.monotonic()
            deleted, after, more = await self._db.run(
                functools.partial(_batch, rule=rule, cutoff=cutoff, limit=self._batch, after=after),
                short=False,
            )
            if deleted:
                total += deleted
                self._metrics.rows_pruned.labels(rule.table).inc(deleted)
            if not more:
                break
            await asyncio.sleep(max(self._pause, time.monotonic() - started))
        if total:
            log.info("pruned %d row(s) of %s older than %s", total, rule.table, rule.retention)
        return total


def _batch(
    conn: Connection, *, rule: PruneRule, cutoff: datetime, limit: int, after: int
) -> tuple[int, int, bool]:
    """One batch in the caller's transaction: (rows deleted, where the scan got to, whether
    there may be more)."""
    sql = PlainSql(conn)
    at = sql.time(cutoff)
    if sql.postgres:
        keys = ", ".join(rule.keys)
        deleted = sql.execute(
            f"DELETE FROM {rule.table} WHERE ({keys}) IN (SELECT {keys} FROM {rule.table} "
            f"WHERE {rule.pruned_by} < ? ORDER BY {rule.pruned_by} LIMIT ? "
            "FOR UPDATE SKIP LOCKED)",
            [at, limit],
        )
        return deleted, 0, deleted == limit
    rows = sql.rows(
        f"SELECT rowid, {rule.scan_column}, {rule.pruned_by} FROM {rule.table} "
        "WHERE rowid > ? ORDER BY rowid LIMIT ?",
        [after, limit],
    )
    doomed: list[int] = []
    reached = after
    for rowid, written, pruned_by in rows:
        if written >= at:  # written after the cutoff: so is everything after it
            return _delete(sql, rule, doomed, at), reached, False
        reached = rowid
        if pruned_by is not None and pruned_by < at:
            doomed.append(rowid)
    return _delete(sql, rule, doomed, at), reached, len(rows) == limit


def _delete(sql: PlainSql, rule: PruneRule, rowids: list[int], at: object) -> int:
    if not rowids:
        return 0
    return sql.execute(
        f"DELETE FROM {rule.table} WHERE rowid IN {sql.in_list(len(rowids))} "
        f"AND {rule.pruned_by} < ?",
        [*rowids, at],
    )


def _count(conn: Connection, *, table: str) -> int:
    return int(PlainSql(conn).rows(f"SELECT count(*) FROM {table}")[0][0])
