"""The notification sender: a notification handed over at commit but sent after its lease
has run out (the sender behind on a loaded machine) is sent once, not again by the sweep
that runs between the send and its mark."""

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable

from sqlalchemy import Connection

from notification_service.adapters.dispatcher import Dispatcher
from notification_service.adapters.migrations import MIGRATIONS
from notification_service.adapters.repository import (
    SqlContactRepository,
    SqlNotificationRepository,
)
from notification_service.domain.model import Contact, Kind, NewNotification, Notification
from shared.persistence.database import Database
from tests.support.polling import eventually

DatabaseUrl = Callable[[str], Awaitable[str]]
LEASE = 0.2


class Recording:
    """A channel that remembers what it sent; marks go with the rest of their batch."""

    name = "recording"
    marks_each_send = False

    def __init__(self) -> None:
        self.sent: Counter[uuid.UUID] = Counter()

    async def send(self, notification: Notification) -> None:
        self.sent[notification.id] += 1


async def test_a_notification_sent_after_its_lease_ran_out_is_sent_once(
    database_url: DatabaseUrl,
) -> None:
    db = Database(await database_url("notification"))
    await db.on_connection(MIGRATIONS.prepare)
    orders = [uuid.uuid4() for _ in range(10)]

    def record_and_lease(conn: Connection) -> list[Notification]:
        SqlContactRepository(conn).remember(
            Contact(order_id, f"c-{n}", f"c{n}@example.com") for n, order_id in enumerate(orders)
        )
        repository = SqlNotificationRepository(conn, lease_seconds=LEASE)
        repository.add(NewNotification(order_id, Kind.ORDER_RECEIVED) for order_id in orders)
        return repository.claim_sendable_of(orders)

    leased = await db.run(record_and_lease)
    assert len(leased) == len(orders)
    await asyncio.sleep(LEASE * 1.5)  # handed over, not yet sent: the lease runs out

    channel = Recording()
    dispatcher = Dispatcher(db, channel, lease_seconds=LEASE, poll_interval=0.05)
    dispatcher.accept(leased)
    task = asyncio.create_task(dispatcher.run())

    try:
        await eventually(lambda: len(channel.sent), lambda n: n == len(orders), what="all sent")
        await asyncio.sleep(0.5)  # a second send would be here by now
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await db.dispose()
    assert set(channel.sent) == {n.id for n in leased}
    assert max(channel.sent.values()) == 1, f"sent twice: {channel.sent.total() - len(orders)}"
