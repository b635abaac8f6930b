"""The README's "add a new subscriber" recipe, as a test: a new service consumes OrderPlaced
with an inbox, dead-lettering and retries, in a few lines of `shared`."""

from typing import ClassVar

from sqlalchemy import Column, MetaData, String, Table, Uuid, func, select

from shared import contracts
from shared.consumer import Event, Subscription
from shared.http import create_service_app
from shared.inbox import inbox_table
from shared.runtime import Runtime
from shared.settings import ServiceSettings
from shared.topology import ORDER_EVENTS, QueueSpec
from shared.uow import UnitOfWork
from tests import factories
from tests.support import BrokerProbe, eventually, running

# --- the recipe -------------------------------------------------------------------------


class AuditSettings(ServiceSettings):
    service_name: ClassVar[str] = "audit"
    default_port: ClassVar[int] = 8003


metadata = MetaData()
inbox = inbox_table(metadata)
audit_log = Table(
    "audit_log",
    metadata,
    Column("order_id", Uuid, primary_key=True),
    Column("customer_id", String(128)),
)
AUDIT_ORDER_EVENTS = QueueSpec("audit.order-events", ORDER_EVENTS)


async def on_order_placed(uow: UnitOfWork, event: Event[contracts.OrderPlacedV1]) -> None:
    await uow.conn.execute(
        audit_log.insert().values(order_id=event.data.order_id, customer_id=event.data.customer_id)
    )


def create_app(settings: AuditSettings):  # type: ignore[no-untyped-def]
    runtime = Runtime(
        settings,
        metadata,
        inbox=inbox,
        subscriptions=[Subscription(AUDIT_ORDER_EVENTS, {contracts.ORDER_PLACED: on_order_placed})],
    )
    return create_service_app(runtime, [], title="Audit service")


# --- the proof --------------------------------------------------------------------------


async def test_a_new_subscriber_gets_its_own_queue_inbox_and_dead_letters(
    broker_url: str, tmp_path: object
) -> None:
    settings = AuditSettings(
        amqp_url=broker_url, database_url=f"sqlite+aiosqlite:///{tmp_path}/audit.db"
    )
    async with BrokerProbe(broker_url) as probe, running(create_app(settings)) as (runtime, _):
        event = factories.order_placed([("SKU-1", 1)], customer_id="audited")
        for _ in range(2):
            await probe.publish(ORDER_EVENTS, factories.body(event), **factories.properties(event))
        await probe.publish(ORDER_EVENTS, b"garbage", message_id="garbage")

        letters = await probe.collect(AUDIT_ORDER_EVENTS.dead_letter_queue, 1)
        assert [m.message_id for m in letters] == ["garbage"]

        async def audited() -> list[tuple[object, ...]]:
            async with runtime.db.reading() as conn:
                return [tuple(row) for row in await conn.execute(select(audit_log))]

        rows = await eventually(audited, lambda rows: len(rows) >= 1)
        await eventually(lambda: runtime.consumers[0].processed, lambda n: n == 2)
        assert [(str(order_id), customer) for order_id, customer in rows] == [
            (event.data["order_id"], "audited")
        ]
        async with runtime.db.reading() as conn:
            assert await conn.scalar(select(func.count()).select_from(audit_log)) == 1
