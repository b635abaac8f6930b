"""The benchmark harness reads the services' databases itself (benchmarks.databases): on
SQLite and on PostgreSQL alike, the rows a service writes come back as the same order keys
and the same instants, whatever types the driver gives (hex text or UUID, naive UTC text
or aware datetimes, bytes), and every query of the harness runs on both."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import Connection

from benchmarks import databases
from benchmarks.milestones import milestones
from order_service.adapters.tables import orders, outbox
from shared.persistence.database import Database
from shared.process.migrate import migrations_of

DatabaseUrl = Callable[[str], Awaitable[str]]
SERVICES = ("order", "inventory", "notification")


async def test_the_harness_reads_the_same_keys_and_instants_on_both_databases(
    database_url: DatabaseUrl,
) -> None:
    urls = {service: await database_url(service) for service in SERVICES}
    order_id = uuid.uuid4()
    created = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    published = created + timedelta(milliseconds=250)

    def write(conn: Connection) -> None:
        conn.execute(
            orders.insert().values(
                id=order_id,
                customer_id="c-1",
                items=[],
                status="CONFIRMED",
                created_at=created,
                updated_at=published,
            )
        )
        conn.execute(
            outbox.insert().values(
                id="e-1",
                exchange="order.events",
                routing_key="order.placed",
                event_type="OrderPlaced",
                correlation_id="c",
                body=orjson.dumps({"data": {"order_id": str(order_id)}}),
                headers={},
                created_at=created,
                claimed_until=created,
                published_at=published,
            )
        )

    for service, url in urls.items():
        db = Database(url)
        try:
            await db.on_connection(migrations_of(service).prepare)
            if service == "order":
                await db.run(write)
        finally:
            await db.dispose()

    readers = {service: databases.reader(url) for service, url in urls.items()}
    try:
        order = readers["order"]
        (row,) = await order.query("SELECT id, status, updated_at FROM orders")
        assert databases.uuid_key(row[0]) == order_id.hex
        assert databases.epoch(row[2]) == published.timestamp()
        assert await order.scalar("SELECT count(*) FROM orders WHERE status != 'PENDING'") == 1
        assert await readers["notification"].scalar("SELECT count(*) FROM notifications") == 0
        # Each step after a POST sent 1 s before the order was stored (the outbox body's
        # order id included); the other services' steps have no rows here.
        steps = await milestones(readers, {order_id.hex: created.timestamp() - 1})
        assert steps["order stored (POST handler)"]["p50"] == 1000.0
        assert steps["OrderPlaced marked published"]["p50"] == 1250.0
        assert steps["order CONFIRMED"]["p50"] == 1250.0
        assert steps["stock reserved"]["count"] == 0
    finally:
        for reader in readers.values():
            await reader.close()
