"""The fault-injection suite: each test drives orders through the real services, injects
one fault, and then accounts for every accepted order through the public APIs:
lost = 0 and duplicated effects = 0. The broker is left running and healthy.

What each test needs of the broker besides AMQP and a vhost (tests.support.broker_control):
1 lists unacknowledged deliveries and 3 lists and closes connections, through the
management API, `docker exec` into the broker's container, or the local rabbitmqctl; 4
stops and starts the broker application, which only rabbitmqctl does: the local one for the
machine's node, `docker exec` for a container. 2, 5, 6, 7 and 8 need nothing more."""

import asyncio
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from shared.contract.topology import INVENTORY_ORDER_EVENTS, ORDER_EVENTS, QUEUES
from shared.persistence.database import Database
from tests.faults.harness import (
    TEST_TIMEOUT,
    System,
    assert_nothing_lost_or_doubled,
    record,
    when,
)
from tests.support.broker import (
    BrokerProbe,
    close_connections,
    connections_in,
    consumers_on,
    start_node,
    stop_node,
    take_all,
    unacked_on,
)
from tests.support.databases import POSTGRES_URL, execute, holding_stock
from tests.support.metrics import metric
from tests.support.polling import eventually
from tests.support.services import get_json

pytestmark = pytest.mark.timeout(TEST_TIMEOUT)
SystemFactory = Callable[..., Awaitable[System]]
DLQ_ADMIN = f"/admin/dead-letters/{INVENTORY_ORDER_EVENTS.name}"
MAX_ATTEMPTS = 6  # FAST_RECOVERY's five retry delays + the first try


# The broker's listings and its node are reached as tests.support.broker_control says (the
# management API, `docker exec` into its container, or the local rabbitmqctl); each call
# takes up to a second, so it runs off the event loop (and the load).


async def unacked_by_inventory(broker_url: str) -> int:
    return await asyncio.to_thread(unacked_on, broker_url, INVENTORY_ORDER_EVENTS.name)


async def consumer_counts(broker_url: str) -> dict[str, int]:
    return await asyncio.to_thread(
        lambda: {q.name: consumers_on(broker_url, q.name) for q in QUEUES}
    )


async def connections(broker_url: str) -> set[str]:
    """The broker's client connections to the test's vhost right now."""
    return await asyncio.to_thread(connections_in, broker_url)


async def ready(http: httpx.AsyncClient, url: str) -> int:
    try:
        return (await http.get(f"{url}/health/ready", timeout=3)).status_code
    except httpx.HTTPError:
        return 0


async def test_1_consumer_killed_with_sigkill_while_holding_unacked_messages(
    make_system: SystemFactory, broker_url: str
) -> None:
    system = await make_system()
    load = asyncio.create_task(system.place(300, rate=150))
    await asyncio.sleep(0.5)
    # Make sure the kill finds deliveries in hand: stall the consumer on a stock lock.
    async with holding_stock(system.database_url("inventory"), "SKU-A"):
        unacked = await eventually(
            lambda: unacked_by_inventory(broker_url),
            lambda unacked: unacked > 0,
            what="inventory holding unacked deliveries",
        )
        system.processes["inventory"][0].kill()
    record(f"test 1: killed inventory holding {unacked} unacked deliveries")
    replacement = system.spawn("inventory")
    await replacement.wait_ready()
    await load

    assert_nothing_lost_or_doubled(await system.tally("sigkill-inventory-with-unacked"))


async def test_2_crash_after_commit_before_ack_is_deduplicated_on_redelivery(
    make_system: SystemFactory,
) -> None:
    system = await make_system(
        modules={"inventory": "tests.faults.crash_before_ack"},
        env={"CRASH_AFTER_BATCHES": "5"},
    )
    crashing = system.processes["inventory"][0]
    load = asyncio.create_task(system.place(300, rate=150))
    await when(
        lambda: crashing.process is not None and crashing.process.poll() is not None,
        "the crash after commit",
    )
    assert "exiting after committing batch 5" in crashing.log()
    replacement = system.spawn("inventory", module="inventory_service")
    await replacement.wait_ready()
    await load

    assert_nothing_lost_or_doubled(await system.tally("crash-after-commit-before-ack"))
    deduplicated = await metric(system.http, replacement.url, "messages_deduplicated_total")
    record(
        f"test 2: the replacement acknowledged {deduplicated:.0f} redelivered event(s) "
        "without effect"
    )
    assert deduplicated > 0, "the redeliveries of the committed batch were deduplicated"


async def test_3_all_connections_dropped_under_load_recover_by_themselves(
    make_system: SystemFactory, broker_url: str
) -> None:
    system = await make_system()
    before = await eventually(
        lambda: consumer_counts(broker_url),
        lambda now: all(count == 1 for count in now.values()),
        what="one consumer on every queue",
    )
    # (The management API lists a connection a moment after it opens.)
    opened = await eventually(
        lambda: connections(broker_url),
        lambda found: len(found) >= 3,  # one per service at least
        what="the services' connections listed",
    )
    load = asyncio.create_task(system.place(300, rate=60))
    await asyncio.sleep(1.5)  # into the load
    await asyncio.to_thread(close_connections, broker_url, "fault injection")
    await load

    await eventually(
        lambda: consumer_counts(broker_url),
        lambda now: now == before,
        timeout=60,
        what="consumers back on every queue",
    )
    assert_nothing_lost_or_doubled(await system.tally("close-all-connections"))
    for name in ("order", "inventory", "notification"):
        assert await ready(system.http, system.url(name)) == 200
    # The fault happened: every connection there was is gone, and new ones took over.
    after = await eventually(
        lambda: connections(broker_url),
        lambda found: bool(found) and not found & opened,
        what="new connections only",
    )
    record(
        f"test 3: connections before {len(opened)}, after {len(after)}, in common {opened & after}"
    )


@pytest.mark.stops_broker
async def test_4_broker_stopped_for_a_while_under_load(
    make_system: SystemFactory, broker_url: str
) -> None:
    system = await make_system()
    load = asyncio.create_task(system.place(300, rate=40))
    await asyncio.sleep(1.5)
    await asyncio.to_thread(stop_node)
    try:
        await eventually(
            lambda: ready(system.http, system.url("order")),
            lambda c: c == 503,
            what="order service not ready while the broker is down",
        )
        # Orders are still accepted (202) while the broker is away: they wait in the outbox.
        during = await system.place(30, rate=10)
        still_pending = await get_json(system.http, f"{system.url('order')}/orders/{during[0].id}")
        assert still_pending["status"] == "PENDING"
    finally:
        await asyncio.to_thread(start_node)
    await load

    before = {q.name: 1 for q in QUEUES}
    await eventually(
        lambda: consumer_counts(broker_url),
        lambda now: now == before,
        timeout=60,
        what="consumers back on every queue",
    )
    assert_nothing_lost_or_doubled(await system.tally("broker-stopped"))


@pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)
async def test_5_consumer_database_unavailable_for_a_while_is_retried_not_dead_lettered(
    make_system: SystemFactory,
) -> None:
    system = await make_system()
    database = urlsplit(system.database_url("inventory")).path.lstrip("/")
    admin = await asyncpg.connect(POSTGRES_URL)
    load = asyncio.create_task(system.place(200, rate=50))
    try:
        await asyncio.sleep(1)
        await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", database
        )
        await eventually(
            lambda: ready(system.http, system.url("inventory")),
            lambda c: c == 503,
            what="inventory not ready without its database",
        )
        await asyncio.sleep(3)  # the outage
    finally:
        await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        await admin.close()
    await load

    assert_nothing_lost_or_doubled(await system.tally("inventory-database-down"))
    assert await get_json(system.http, system.url("inventory") + DLQ_ADMIN) == []
    # The consumer's own record of its attempts: it retried (the relay's "retrying" while
    # the database was away does not count), and dead-lettered nothing.
    inventory = system.url("inventory")
    retried = await metric(system.http, inventory, "messages_retried_total")
    record(f"test 5: inventory retried {retried:.0f} deliveries while its database was away")
    assert retried > 0
    assert await metric(system.http, inventory, "messages_dead_lettered_total") == 0


def poison_statements(dialect: str) -> list[str]:
    """Every reservation of the sku POISON-1 fails in the inventory database."""
    if dialect == "sqlite":
        return [
            """CREATE TRIGGER poison BEFORE INSERT ON reservations
                   WHEN NEW.items LIKE '%POISON-1%'
                   BEGIN SELECT RAISE(ABORT, 'poisoned reservation'); END"""
        ]
    return [
        """CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN
               IF NEW.items::text LIKE '%POISON-1%' THEN
                   RAISE EXCEPTION 'poisoned reservation'; END IF;
               RETURN NEW; END $$ LANGUAGE plpgsql""",
        "CREATE TRIGGER poison BEFORE INSERT ON reservations "
        "FOR EACH ROW EXECUTE FUNCTION poison()",
    ]


async def run_sql(url: str, statements: list[str]) -> None:
    db = Database(url)
    try:
        await execute(db, statements)
    finally:
        await db.dispose()


async def poison_one(system: System) -> str:
    db_url = system.database_url("inventory")
    await run_sql(db_url, poison_statements("sqlite" if db_url.startswith("sqlite") else "pg"))
    poison = await system.place_one([{"sku": "POISON-1", "quantity": 1}], expected="PENDING")
    return poison.id


async def test_6_poison_message_is_dead_lettered_after_exactly_its_attempts(
    make_system: SystemFactory,
) -> None:
    system = await make_system()
    poison_order = await poison_one(system)
    await system.place(150, rate=100)

    letters = await eventually(
        lambda: get_json(system.http, system.url("inventory") + DLQ_ADMIN),
        lambda found: len(found) == 1,
        timeout=60,
        what="the poison in the DLQ",
    )
    tally = await system.tally("poison-message")
    assert_nothing_lost_or_doubled(tally, pending=1)
    assert letters[0]["attempts"] == MAX_ATTEMPTS
    assert "poisoned reservation" in letters[0]["reason"]
    shown = await get_json(
        system.http, system.url("inventory") + f"{DLQ_ADMIN}/{letters[0]['message_id']}"
    )
    assert poison_order in shown[0]["body"]


async def test_7_same_event_published_many_times_concurrently_has_one_effect(
    make_system: SystemFactory, broker_url: str
) -> None:
    system = await make_system(inventories=2)
    async with BrokerProbe(broker_url) as probe:
        tap = await probe.tap(ORDER_EVENTS)
        order = await system.place_one([{"sku": "SKU-A", "quantity": 2}], expected="CONFIRMED")
        original = (await eventually(lambda: take_all(tap), lambda found: len(found) == 1))[0]
        copies = [
            probe.publish(
                ORDER_EVENTS,
                original.body,
                message_id=original.message_id,
                type=original.type,
                correlation_id=original.correlation_id,
                content_type=original.content_type,
                headers=dict(original.headers),  # its signature: a genuine copy
            )
            for _ in range(100)
        ]
        await asyncio.gather(system.place(100, rate=100), *copies)

    tally = await system.tally("same-event-100-times")
    assert_nothing_lost_or_doubled(tally)
    # Both competing consumers worked, and between them they recognised every copy.
    urls = [p.url for p in system.processes["inventory"]]
    applied = [await metric(system.http, u, "message_critical_time_seconds_count") for u in urls]
    deduplicated = [await metric(system.http, u, "messages_deduplicated_total") for u in urls]
    record(f"test 7: applied per consumer {applied}, deduplicated per consumer {deduplicated}")
    assert all(n > 0 for n in applied)
    assert sum(deduplicated) == 100, "each of the 100 copies acknowledged without effect"
    assert await get_json(system.http, system.url("inventory") + DLQ_ADMIN) == []
    notifications = await get_json(
        system.http, f"{system.url('notification')}/notifications?order_id={order.id}"
    )
    assert sorted(n["kind"] for n in notifications) == ["order-confirmed", "order-received"]


async def test_8_replay_from_the_dlq_after_fixing_the_cause_processes_it_once(
    make_system: SystemFactory,
) -> None:
    system = await make_system()
    poison_order = await poison_one(system)
    load = asyncio.create_task(system.place(100, rate=100))
    dlq = system.url("inventory") + DLQ_ADMIN
    letters = await eventually(
        lambda: get_json(system.http, dlq),
        lambda found: len(found) == 1,
        timeout=60,
        what="the poison in the DLQ",
    )
    await load

    db_url = system.database_url("inventory")
    await run_sql(
        db_url,
        ["DROP TRIGGER poison" + ("" if db_url.startswith("sqlite") else " ON reservations")],
    )
    replay = await system.http.post(
        f"{dlq}/replay", json={"message_ids": [letters[0]["message_id"]]}
    )
    assert replay.json()["done"] == 1
    next(o for o in system.orders if o.id == poison_order).expected = "CONFIRMED"

    assert_nothing_lost_or_doubled(await system.tally("replay-after-fix"))
    assert await get_json(system.http, dlq) == []
