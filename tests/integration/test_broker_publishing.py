"""Publishing against a real broker: an event no queue takes is refused (a `mandatory`
publish the broker returns), and the outbox keeps it until a queue does take it, rather
than marking it published and losing it."""

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from aiormq.exceptions import PublishError
from pamqp.commands import Basic

from order_service.adapters import tables
from order_service.adapters.migrations import MIGRATIONS
from shared.contract.outbound import OutboundMessage
from shared.messaging.broker import Broker
from shared.messaging.delivery import Outgoing
from shared.messaging.outbox_relay import OutboxRelay
from shared.persistence.database import Database
from shared.persistence.outbox_store import OutboxStore
from tests import factories
from tests.support.broker import BrokerProbe, take_all
from tests.support.polling import eventually

NOBODY_LISTENS = "test.nobody-listens"


@pytest.fixture
async def broker(broker_url: str) -> AsyncIterator[Broker]:
    broker = Broker(broker_url, name="publishing-test", retry_delays=())
    broker.start()
    await broker.connected()
    try:
        yield broker
    finally:
        await broker.close()


def outbox_row(path: Path, event_id: str) -> dict[str, Any]:
    with closing(sqlite3.connect(path)) as conn:
        conn.row_factory = sqlite3.Row
        query = "SELECT published_at, attempts, last_error FROM outbox WHERE id = ?"
        return dict(conn.execute(query, (event_id,)).fetchone())


async def test_an_event_no_queue_takes_is_refused_and_stays_in_the_outbox(
    broker: Broker, broker_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "order.db"
    db = Database(f"sqlite:///{path}")
    await db.on_connection(MIGRATIONS.prepare)
    store = OutboxStore(db, tables.outbox, lease_seconds=0.5)
    relay = OutboxRelay(store, broker, app_id="test", poll_interval=0.05, lease_seconds=0.5)
    event = factories.order_placed([("SKU-1", 1)])
    async with BrokerProbe(broker_url) as probe:
        assert probe.channel is not None
        exchange = await probe.channel.declare_exchange(
            NOBODY_LISTENS, aio_pika.ExchangeType.FANOUT, durable=True
        )
        with pytest.raises(PublishError):
            await broker.publish(NOBODY_LISTENS, "", Outgoing(b"{}", Basic.Properties()))

        await db.run(lambda conn: store.insert(conn, [OutboundMessage.of(event, NOBODY_LISTENS)]))
        task = asyncio.create_task(relay.run())
        try:
            refused = await eventually(
                lambda: outbox_row(path, event.id),
                lambda row: row["attempts"] >= 2,
                what="the row tried twice",
            )
            assert refused["published_at"] is None, "refused: not published"
            assert "NO_ROUTE" in refused["last_error"] or "312" in refused["last_error"]

            # A queue appears: the same row now goes out, once, and is marked.
            queue = await probe.channel.declare_queue(exclusive=True)
            await queue.bind(exchange)
            await eventually(
                lambda: outbox_row(path, event.id),
                lambda row: row["published_at"] is not None,
                what="the row published once a queue takes it",
            )
            received = await eventually(lambda: take_all(queue), lambda found: len(found) > 0)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await db.dispose()
    assert [m.message_id for m in received] == [event.id]
