"""Where an order's latency accumulates: for each step along its path, how long after its
POST was sent the services recorded that step (from their own tables, read in bulk)."""

from collections.abc import Mapping
from pathlib import Path

import orjson

from benchmarks import sqlite
from benchmarks.stats import latency_summary

# (step, database, query returning (order id, UTC timestamp)), in the order they happen.
_STEPS = (
    ("order stored (POST handler)", "order", "SELECT id, created_at FROM orders"),
    # published_at is written in batches, up to 250 ms after the broker confirmed the event.
    ("OrderPlaced marked published", "order", "SELECT body, published_at FROM outbox"),
    ("stock reserved", "inventory", "SELECT order_id, created_at FROM reservations"),
    (
        "StockReserved marked published",
        "inventory",
        "SELECT body, published_at FROM outbox",
    ),
    (
        "order-received recorded",
        "notification",
        "SELECT order_id, created_at FROM notifications WHERE kind = 'order-received'",
    ),
    ("order CONFIRMED", "order", "SELECT id, updated_at FROM orders"),
    (
        "order-confirmed recorded",
        "notification",
        "SELECT order_id, created_at FROM notifications WHERE kind = 'order-confirmed'",
    ),
)


async def milestones(
    databases: Mapping[str, Path], sent_at: Mapping[str, float]
) -> dict[str, dict[str, float]]:
    """Latency summaries (ms after the POST was sent) of each step, over the orders in
    `sent_at` (order id key -> when its POST was sent)."""
    result = {}
    for step, service, sql in _STEPS:
        offsets_ms = []
        for key, at in await sqlite.query(databases[service], sql):
            order = _order_key(key)
            if order in sent_at and at is not None:
                offsets_ms.append((sqlite.epoch(at) - sent_at[order]) * 1000)
        result[step] = latency_summary(offsets_ms)
    return result


def _order_key(key: str | bytes) -> str:
    """An order id column, or the order id inside an outbox row's CloudEvent body."""
    if isinstance(key, bytes):
        return sqlite.uuid_key(orjson.loads(key)["data"]["order_id"])
    return sqlite.uuid_key(key)
