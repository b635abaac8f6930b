"""What can never be processed is dead-lettered at once with its reason; what fails for a
while is retried with back-off, then dead-lettered; the consumer keeps going either way."""

from collections.abc import Awaitable, Callable
from datetime import datetime

import pytest

from inventory_service.config import InventorySettings
from inventory_service.entrypoints.app import create_app as inventory_app
from shared.contract import events as contracts
from shared.contract.topology import DELIVERY_LIMIT, INVENTORY_ORDER_EVENTS, ORDER_EVENTS
from shared.core.handlers import Event, PermanentError
from shared.messaging.dead_letters import DeadLetterQueue
from shared.messaging.declare import declare
from shared.persistence.unit_of_work import SqlUnitOfWork
from tests import factories
from tests.support.broker import BrokerProbe
from tests.support.polling import eventually
from tests.support.services import inventory_runtime, running

DatabaseUrl = Callable[[str], Awaitable[str]]
DLQ = INVENTORY_ORDER_EVENTS.dead_letter_queue


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
async def test_unprocessable_messages_are_dead_lettered_with_reason_and_consuming_goes_on(
    broker_url: str, database_url: DatabaseUrl
) -> None:
    settings = InventorySettings(amqp_url=broker_url, database_url=await database_url("inventory"))
    async with BrokerProbe(broker_url) as probe, running(inventory_app(settings)) as (_, http):
        await http.put("/stock/SKU-1", json={"available": 5})
        # A trusted producer sending junk: signed, so it is judged on its content.
        malformed = b"{not json"
        await probe.publish(
            ORDER_EVENTS,
            malformed,
            message_id="malformed",
            **factories.signed_by("order", malformed),
        )
        invalid = factories.raw_event(
            contracts.ORDER_PLACED,
            {
                "order_id": "3f1c0c52-4d8e-4d43-9a4c-2c1b1c0d9e11",
                "customer_id": "c",
                "items": [{"sku": "SKU-1", "quantity": 0}],
            },
        )
        await probe.publish(
            ORDER_EVENTS, invalid, message_id="invalid", **factories.signed_by("order", invalid)
        )
        unknown_version = factories.raw_event(contracts.ORDER_PLACED, {}, dataversion="99")
        await probe.publish(
            ORDER_EVENTS,
            unknown_version,
            message_id="v99",
            **factories.signed_by("order", unknown_version),
        )
        not_cloudevent = b'{"hello": "world"}'
        await probe.publish(
            ORDER_EVENTS,
            not_cloudevent,
            message_id="not-ce",
            **factories.signed_by("order", not_cloudevent),
        )
        valid = factories.order_placed([("SKU-1", 2)])
        await probe.publish(ORDER_EVENTS, factories.body(valid), **factories.properties(valid))

        letters = {m.message_id: m for m in await probe.collect(DLQ, 4)}
        await eventually(
            lambda: _reserved(http), lambda reserved: reserved == 2, what="valid order reserved"
        )
        assert await probe.drain(DLQ) == [], "nothing else was dead-lettered"

    assert set(letters) == {"malformed", "invalid", "v99", "not-ce"}
    reasons = {key: str(m.headers["x-dead-letter-reason"]) for key, m in letters.items()}
    assert "not valid JSON" in reasons["malformed"]
    assert "items.0.quantity" in reasons["invalid"]
    assert "dataversion '99'" in reasons["v99"]
    assert "not a valid CloudEvent" in reasons["not-ce"]
    for letter in letters.values():
        assert letter.headers["x-error-type"] == "InvalidMessage"
        assert letter.headers["x-attempts"] == 1, "permanent failures skip the retries"
        assert letter.headers["x-original-queue"] == INVENTORY_ORDER_EVENTS.name
        assert letter.headers["x-service"] == "inventory-service"
        assert letter.headers["x-first-failure-at"]
    assert letters["invalid"].body == invalid, "the dead letter keeps the original body"


@pytest.mark.parametrize("db_kind", ["sqlite", "postgresql"], indirect=True)
async def test_failing_handler_is_retried_with_back_off_then_dead_lettered(
    broker_url: str, database_url: DatabaseUrl
) -> None:
    calls: list[str] = []
    committed: list[str] = []

    def flaky(event: Event[contracts.OrderPlacedV1], uow: SqlUnitOfWork) -> None:
        calls.append(event.id)
        if event.data.customer_id == "always-fails":
            raise ConnectionError("downstream unavailable")
        if event.data.customer_id == "permanent":
            raise PermanentError("this order can never be handled")
        if calls.count(event.id) < 3:
            raise TimeoutError("slow downstream")
        uow.on_commit(lambda: committed.append(event.id))

    settings = InventorySettings(
        amqp_url=broker_url,
        database_url=await database_url("inventory"),
        retry_delays=(0.2, 0.4, 0.8),
    )
    runtime = inventory_runtime(settings, flaky)
    doomed = factories.order_placed([("SKU-1", 1)], customer_id="always-fails")
    permanent = factories.order_placed([("SKU-1", 1)], customer_id="permanent")
    recovers = factories.order_placed([("SKU-1", 1)], customer_id="recovers")
    await runtime.start()
    try:
        async with BrokerProbe(broker_url) as probe:
            await eventually(runtime.readiness, lambda checks: all(checks.values()))
            for event in (doomed, permanent, recovers):
                await probe.publish(
                    ORDER_EVENTS, factories.body(event), **factories.properties(event)
                )
            letters = {m.message_id: m for m in await probe.collect(DLQ, 2)}
            await eventually(lambda: committed, lambda ids: recovers.id in ids)
            assert await probe.drain(DLQ) == [], "the recovering event was not dead-lettered"
    finally:
        await runtime.stop()

    assert committed == [recovers.id]
    assert set(letters) == {doomed.id, permanent.id}
    doomed_letter = letters[doomed.id].headers
    assert doomed_letter["x-attempts"] == 4, "first try + one per retry delay"
    assert doomed_letter["x-error-type"] == "ConnectionError"
    assert doomed_letter["x-error-message"] == "downstream unavailable"
    first = datetime.fromisoformat(str(doomed_letter["x-first-failure-at"]))
    last = datetime.fromisoformat(str(doomed_letter["x-last-failure-at"]))
    assert (last - first).total_seconds() >= 0.2 + 0.4 + 0.8, "each retry waited its delay"
    assert letters[permanent.id].headers["x-attempts"] == 1, "permanent failures skip retries"


async def _reserved(http) -> int:  # type: ignore[no-untyped-def]
    return int((await http.get("/stock/SKU-1")).json()["reserved"])


async def test_a_message_that_keeps_killing_its_consumer_is_dead_lettered_by_the_broker(
    broker_url: str,
) -> None:
    """A delivery that never gets acknowledged (its consumer dies each time) is returned to
    the queue, and after the quorum queue's delivery limit the broker dead-letters it."""
    async with BrokerProbe(broker_url) as probe:
        assert probe.channel is not None and probe.connection is not None
        await declare(probe.channel, retry_delays=(1.0,))
        event = factories.order_placed([("SKU-1", 1)])
        await probe.publish(ORDER_EVENTS, factories.body(event), **factories.properties(event))
        for _ in range(DELIVERY_LIMIT + 1):
            # A consumer that dies holding the message: its channel closes unacknowledged.
            channel = await probe.connection.channel()
            queue = await channel.get_queue(INVENTORY_ORDER_EVENTS.name)
            message = await eventually(lambda q=queue: q.get(fail=False), lambda m: m is not None)
            assert message.message_id == event.id
            await channel.close()
        letters = await eventually(
            lambda: DeadLetterQueue(probe.connection, INVENTORY_ORDER_EVENTS).peek(),
            lambda found: len(found) == 1,
        )
        assert await probe.drain(INVENTORY_ORDER_EVENTS.name) == [], "no longer in the work queue"

    assert letters[0].message_id == event.id
    assert letters[0].reason == "delivery_limit"
    assert letters[0].original_queue == INVENTORY_ORDER_EVENTS.name
