"""Where an order's latency accumulates: for each step along its path, how long after its
POST was sent the services recorded that step (from their own tables, read in bulk)."""

import uuid
from collections.abc import Mapping

import orjson

from benchmarks import databases
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
    readers: Mapping[str, databases.Reader], sent_at: Mapping[str, float]
) -> dict[str, dict[str, float]]:
    """Latency summaries (ms after the POST was sent) of each step, over the orders in
    `sent_at` (order id key -> when its POST was sent)."""
    result = {}
    for step, service, sql in _STEPS:
        offsets_ms = []
        for key, at in await readers[service].query(sql):
            order = _order_key(key)
            if order in sent_at and at is not None:
                offsets_ms.append((databases.epoch(at) - sent_at[order]) * 1000)
        result[step] = latency_summary(offsets_ms)
    return result


def _order_key(key: str | uuid.UUID | bytes | memoryview) -> str:
    """An order id column, or the order id inside an outbox row's CloudEvent body (bytes;
    a memoryview from some drivers)."""
    if isinstance(key, bytes | memoryview):
        return databases.uuid_key(orjson.loads(bytes(key))["data"]["order_id"])
    return databases.uuid_key(key)
