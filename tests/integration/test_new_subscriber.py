"""The README's "add a new subscriber" recipe, as a test: a new service consumes OrderPlaced
with an inbox, dead-lettering and retries, in a few lines of `shared`."""

from typing import ClassVar

from fastapi import FastAPI
from sqlalchemy import Column, Connection, MetaData, String, Table, Uuid, func, select

from shared.contract.events import OrderPlacedV1
from shared.contract.topology import ORDER_EVENTS, QueueSpec
from shared.core.handlers import Event, Subscription, handles, one_at_a_time
from shared.persistence.inbox import inbox_table
from shared.persistence.unit_of_work import SqlUnitOfWork
from shared.process.runtime import Runtime
from shared.process.settings import ServiceSettings
from tests import factories
from tests.support.broker import BrokerProbe
from tests.support.polling import eventually
from tests.support.services import running

# --- the recipe -------------------------------------------------------------------------


class LoyaltySettings(ServiceSettings):
    service_name: ClassVar[str] = "loyalty"
    default_port: ClassVar[int] = 8003


metadata = MetaData()
inbox = inbox_table(metadata)
loyalty_log = Table(
    "loyalty_log",
    metadata,
    Column("order_id", Uuid, primary_key=True),
    Column("customer_id", String(128)),
)
LOYALTY_ORDER_EVENTS = QueueSpec("loyalty.order-events", ORDER_EVENTS)


class LoyaltyUnitOfWork(SqlUnitOfWork):
    def __init__(self, conn: Connection) -> None:
        super().__init__(conn, inbox)

    def record(self, order: OrderPlacedV1) -> None:
        self.conn.execute(
            loyalty_log.insert().values(order_id=order.order_id, customer_id=order.customer_id)
        )


def on_order_placed(event: Event[OrderPlacedV1], uow: LoyaltyUnitOfWork) -> None:
    uow.record(event.data)


def create_app(settings: LoyaltySettings) -> FastAPI:
    runtime = Runtime(
        settings,
        metadata,
        unit_of_work=LoyaltyUnitOfWork,
        subscriptions=[
            Subscription.of(
                LOYALTY_ORDER_EVENTS, [handles(OrderPlacedV1, one_at_a_time(on_order_placed))]
            )
        ],
    )
    return runtime.create_app([], title="Loyalty service")


# --- the proof --------------------------------------------------------------------------


async def test_a_new_subscriber_gets_its_own_queue_inbox_and_dead_letters(
    broker_url: str, tmp_path: object
) -> None:
    settings = LoyaltySettings(amqp_url=broker_url, database_url=f"sqlite:///{tmp_path}/loyalty.db")
    async with BrokerProbe(broker_url) as probe, running(create_app(settings)) as (runtime, _):
        event = factories.order_placed([("SKU-1", 1)], customer_id="audited")
        for _ in range(2):
            await probe.publish(ORDER_EVENTS, factories.body(event), **factories.properties(event))
        await probe.publish(ORDER_EVENTS, b"garbage", message_id="garbage")

        letters = await probe.collect(LOYALTY_ORDER_EVENTS.dead_letter_queue, 1)
        assert [m.message_id for m in letters] == ["garbage"]

        def audited(conn: Connection) -> list[tuple[object, ...]]:
            return [tuple(row) for row in conn.execute(select(loyalty_log))]

        rows = await eventually(lambda: runtime.db.read(audited), lambda rows: len(rows) >= 1)
        await eventually(lambda: runtime.consumers[0].processed, lambda n: n == 2)
        assert [(str(order_id), customer) for order_id, customer in rows] == [
            (event.data["order_id"], "audited")
        ]
        count = select(func.count()).select_from(loyalty_log)
        assert await runtime.db.read(lambda conn: conn.scalar(count)) == 1
