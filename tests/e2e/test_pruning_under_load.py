"""Pruning changes no outcome: the three services as processes with retentions of seconds,
so that inbox and outbox rows are deleted, in small batches, while orders flow; then every
event of the run is delivered again, after the inbox rows that would have caught it are
gone. The domain's keys hold (one reservation per order, one notification per (order,
kind), a status that moves once): nothing is lost or doubled, nothing is dead-lettered."""

from collections.abc import Awaitable, Callable

import pytest

from shared.contract.topology import (
    INVENTORY_EVENTS,
    INVENTORY_ORDER_EVENTS,
    NOTIFICATION_INVENTORY_EVENTS,
    NOTIFICATION_ORDER_EVENTS,
    ORDER_EVENTS,
    ORDER_INVENTORY_EVENTS,
)
from tests.faults.harness import TEST_TIMEOUT, System, assert_nothing_lost_or_doubled
from tests.support.broker import BrokerProbe, take_all
from tests.support.metrics import metric, samples, total
from tests.support.polling import eventually
from tests.support.services import get_json

pytestmark = pytest.mark.timeout(TEST_TIMEOUT)
SystemFactory = Callable[..., Awaitable[System]]

QUICK_RETENTION = {
    "INBOX_RETENTION_SECONDS": "2",
    "OUTBOX_RETENTION_SECONDS": "2",
    "RETENTION_INTERVAL": "0.5",
    "PRUNE_BATCH_SIZE": "20",
    "PRUNE_PAUSE": "0.01",
}
QUEUES_OF = {
    "order": (ORDER_INVENTORY_EVENTS.name,),
    "inventory": (INVENTORY_ORDER_EVENTS.name,),
    "notification": (NOTIFICATION_ORDER_EVENTS.name, NOTIFICATION_INVENTORY_EVENTS.name),
}


async def consumed(system: System, service: str) -> float:
    return await metric(system.http, system.url(service), "messages_consumed_total")


async def test_pruning_under_load_changes_no_outcome_even_for_copies_arriving_after_it(
    make_system: SystemFactory, broker_url: str
) -> None:
    system = await make_system(env=QUICK_RETENTION)
    async with BrokerProbe(broker_url) as probe:
        placed_tap = await probe.tap(ORDER_EVENTS)
        outcome_tap = await probe.tap(INVENTORY_EVENTS)
        await system.place(300, rate=40)
        during = await metric(
            system.http, system.url("inventory"), "database_rows_pruned_total", table="inbox"
        )
        print(f"inventory inbox rows pruned while orders were being placed: {during:.0f}")
        assert during > 0
        await system.settled()

        # Every table pruned while the orders flowed, and then emptied by the retention.
        for service, tables in {
            "order": ("inbox", "outbox"),
            "inventory": ("inbox", "outbox"),
            "notification": ("inbox",),
        }.items():
            url = system.url(service)
            for table in tables:
                await eventually(
                    lambda u=url, t=table: metric(system.http, u, "database_table_rows", table=t),
                    lambda rows: rows == 0,
                    timeout=30,
                    what=f"{service}'s {table} pruned to nothing",
                )
                pruned = await metric(system.http, url, "database_rows_pruned_total", table=table)
                print(f"{service}.{table}: {pruned:.0f} rows pruned")
                assert pruned >= 300

        # Every event again, now that no inbox row remembers it.
        copies = [*await take_all(placed_tap), *await take_all(outcome_tap)]
        assert len(copies) == 600
        before = {service: await consumed(system, service) for service in QUEUES_OF}
        for copy in copies:
            exchange = ORDER_EVENTS if copy.type == "OrderPlaced" else INVENTORY_EVENTS
            await probe.publish(
                exchange,
                copy.body,
                headers=copy.headers,
                message_id=copy.message_id,
                type=copy.type,
                correlation_id=copy.correlation_id,
                content_type=copy.content_type,
                user_id=copy.user_id,
            )
        expected = {"order": 300, "inventory": 300, "notification": 600}
        for service, count in expected.items():
            await eventually(
                lambda s=service: consumed(system, s),
                lambda n, s=service, c=count: n >= before[s] + c,
                timeout=60,
                what=f"{service} consumed the copies",
            )
        found = await samples(system.http, system.url("notification"))
        print(f"copies redelivered: {len(copies)}; notification dedup by inbox:", end=" ")
        print(total(found, "messages_deduplicated_total"))

    tally = await system.tally("pruning under load, then every event again")
    assert_nothing_lost_or_doubled(tally)
    for service, queues in QUEUES_OF.items():
        for queue in queues:
            letters = await get_json(
                system.http, f"{system.url(service)}/admin/dead-letters/{queue}"
            )
            assert letters == [], (service, queue, letters)
