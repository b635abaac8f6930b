"""Dead letters can be listed (up to a limit), inspected, replayed once the cause is fixed
(all, by id, by event type or by error type: only the matching ones move), and purged, over
HTTP and from the command line; a replayed message is applied exactly once, starts its
retries afresh, and leaves the dead-letter queue only once its copy is confirmed."""

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from inventory_service.config import InventorySettings
from inventory_service.entrypoints.app import create_app as inventory_app
from shared.contract.envelope import CloudEvent
from shared.contract.topology import INVENTORY_ORDER_EVENTS, ORDER_EVENTS
from tests import factories
from tests.support.broker import BrokerProbe
from tests.support.databases import execute
from tests.support.polling import eventually
from tests.support.processes import ROOT, clean_environment
from tests.support.services import get_json, running

DatabaseUrl = Callable[[str], Awaitable[str]]
QUEUE = INVENTORY_ORDER_EVENTS.name
ADMIN = f"/admin/dead-letters/{QUEUE}"


def poison_trigger(dialect: str, order_id: str) -> list[str]:
    """A fault in the consumer's own database: inserting this order's reservation fails,
    every time, until the trigger is dropped (the "fix")."""
    if dialect == "sqlite":
        return [
            f"""CREATE TRIGGER poison BEFORE INSERT ON reservations
                WHEN NEW.order_id = '{order_id.replace("-", "")}'
                BEGIN SELECT RAISE(ABORT, 'poisoned reservation'); END"""
        ]
    return [
        f"""CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN
                IF NEW.order_id = '{order_id}' THEN RAISE EXCEPTION 'poisoned reservation';
                END IF; RETURN NEW; END $$ LANGUAGE plpgsql""",
        "CREATE TRIGGER poison BEFORE INSERT ON reservations "
        "FOR EACH ROW EXECUTE FUNCTION poison()",
    ]


async def test_poison_is_dead_lettered_after_its_attempts_then_replayed_once_after_the_fix(
    broker_url: str, database_url: DatabaseUrl, db_kind: str
) -> None:
    settings = InventorySettings(
        amqp_url=broker_url,
        database_url=await database_url("inventory"),
        retry_delays=(0.1, 0.2),
    )
    poison = factories.order_placed([("SKU-1", 2)])
    healthy = factories.order_placed([("SKU-1", 1)])
    async with BrokerProbe(broker_url) as probe, running(inventory_app(settings)) as (rt, http):
        await http.put("/stock/SKU-1", json={"available": 10})
        await execute(rt.db, poison_trigger(db_kind, str(poison.data["order_id"])))
        for event in (poison, healthy):
            await probe.publish(ORDER_EVENTS, factories.body(event), **factories.properties(event))

        letters = await eventually(
            lambda: get_json(http, ADMIN), lambda found: len(found) == 1, what="one dead letter"
        )
        assert letters[0]["message_id"] == poison.id
        assert letters[0]["attempts"] == 3, "first try and the two configured retries"
        assert "poisoned reservation" in letters[0]["reason"]
        assert (await get_json(http, "/stock/SKU-1"))["reserved"] == 1, "the healthy one went on"

        shown = await get_json(http, f"{ADMIN}/{poison.id}")
        assert orjson.loads(shown[0]["body"]) == orjson.loads(factories.body(poison))
        assert shown[0]["headers"]["x-service"] == "inventory-service"
        assert (await http.post(f"{ADMIN}/replay", json={})).status_code == 422

        drop = "DROP TRIGGER poison" + ("" if db_kind == "sqlite" else " ON reservations")
        await execute(rt.db, [drop])  # the fix
        replayed = await http.post(f"{ADMIN}/replay", json={"message_ids": [poison.id]})
        assert replayed.json() == {"matched": 1, "done": 1, "failed": [], "scanned": 1}
        await eventually(
            lambda: get_json(http, "/stock/SKU-1"),
            lambda stock: stock["reserved"] == 3,
            what="replayed order reserved",
        )
        assert await get_json(http, ADMIN) == [], "a replayed message leaves the DLQ"

        # The same dead letter replayed again (say, it had been dead-lettered twice): no effect.
        await probe.publish(
            "",
            factories.body(poison),
            INVENTORY_ORDER_EVENTS.dead_letter_queue,
            **factories.properties(poison, **{"x-original-queue": QUEUE}),
        )
        await eventually(lambda: get_json(http, ADMIN), lambda found: len(found) == 1)
        again = await http.post(f"{ADMIN}/replay", json={"all": True})
        assert again.json()["done"] == 1
        await eventually(lambda: rt.consumers[0].processed, lambda n: n >= 3)
        assert await get_json(http, "/stock/SKU-1") == {
            "sku": "SKU-1",
            "available": 7,
            "reserved": 3,
        }


@dataclass
class Completed:
    returncode: int
    stdout: bytes
    stderr: bytes


async def dlq_cli(broker_url: str, *args: str) -> Completed:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shared.process.dead_letter_cli",
        "--amqp-url",
        broker_url,
        *args,
        cwd=ROOT,
        env=clean_environment({}),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    return Completed(process.returncode or 0, stdout, stderr)


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
async def test_dead_letters_are_purged_by_filter_and_managed_from_the_command_line(
    broker_url: str, database_url: DatabaseUrl
) -> None:
    settings = InventorySettings(amqp_url=broker_url, database_url=await database_url("inventory"))
    async with BrokerProbe(broker_url) as probe, running(inventory_app(settings)) as (_, http):
        # A trusted producer sending junk: signed, so it is judged (and dead-lettered) on
        # its content, "not valid JSON" and "not a valid CloudEvent".
        for body, message_id in ((b"{broken", "broken-1"), (b"[]", "array-1")):
            await probe.publish(
                ORDER_EVENTS, body, message_id=message_id, **factories.signed_by("order", body)
            )
        await eventually(lambda: get_json(http, ADMIN), lambda found: len(found) == 2)

        listed = await dlq_cli(broker_url, "list", QUEUE)
        assert listed.returncode == 0
        assert {e["message_id"] for e in orjson.loads(listed.stdout)} == {"broken-1", "array-1"}
        refused = await dlq_cli(broker_url, "purge", QUEUE)
        assert refused.returncode != 0 and b"select messages" in refused.stderr
        purged = await dlq_cli(broker_url, "purge", QUEUE, "--reason", "not valid JSON")
        assert purged.returncode == 0 and orjson.loads(purged.stdout)["done"] == 1

        remaining = await get_json(http, ADMIN)
        assert [e["message_id"] for e in remaining] == ["array-1"]
        purged_http = await http.post(f"{ADMIN}/purge", json={"message_ids": ["array-1"]})
        assert purged_http.json()["done"] == 1
        assert await get_json(http, ADMIN) == []
        assert (await http.get("/admin/dead-letters/not.a-queue")).status_code == 404


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
async def test_admin_endpoints_need_the_token_when_one_is_set(
    broker_url: str, database_url: DatabaseUrl
) -> None:
    settings = InventorySettings(
        amqp_url=broker_url, database_url=await database_url("inventory"), admin_token="s3cret"
    )
    async with running(inventory_app(settings)) as (_, http):
        assert (await http.get(ADMIN)).status_code == 401
        wrong = await http.get(ADMIN, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = await http.get(ADMIN, headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 200


async def put_dead_letter(
    probe: BrokerProbe,
    event: CloudEvent,
    *,
    error_type: str = "OperationalError",
    original_queue: str = QUEUE,
) -> None:
    """A dead letter as the consumer leaves one: the event, signed, with its failure."""
    failure = {
        "x-original-queue": original_queue,
        "x-error-type": error_type,
        "x-dead-letter-reason": f"{error_type}: it failed",
        "x-attempts": 4,
    }
    await probe.publish(
        "",
        factories.body(event),
        INVENTORY_ORDER_EVENTS.dead_letter_queue,
        **factories.properties(event, **failure),
    )


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
async def test_dead_letters_are_listed_up_to_the_limit_and_replayed_by_type_or_error_type(
    broker_url: str, database_url: DatabaseUrl
) -> None:
    settings = InventorySettings(amqp_url=broker_url, database_url=await database_url("inventory"))
    timed_out = factories.order_placed([("SKU-1", 2)])
    failed = [factories.order_placed([("SKU-1", q)]) for q in (1, 4)]
    # Not an event this queue takes, but dead-lettered here all the same.
    other_type = factories.stock_reserved(uuid.uuid4(), [("SKU-1", 8)])
    async with BrokerProbe(broker_url) as probe, running(inventory_app(settings)) as (_, http):
        await http.put("/stock/SKU-1", json={"available": 100})
        await put_dead_letter(probe, failed[0])
        await put_dead_letter(probe, timed_out, error_type="TimeoutError")
        await put_dead_letter(probe, other_type)
        await put_dead_letter(probe, failed[1])

        async def letters(query: str = "") -> list[str]:
            return [e["message_id"] for e in await get_json(http, f"{ADMIN}{query}")]

        everything = [failed[0].id, timed_out.id, other_type.id, failed[1].id]
        await eventually(letters, lambda found: len(found) == 4, what="four dead letters")
        first_two = await letters("?limit=2")
        assert len(first_two) == 2 and set(first_two) < set(everything)
        assert sorted(await letters("?limit=4")) == sorted(everything)
        for refused in ("0", "10001"):
            assert (await http.get(f"{ADMIN}?limit={refused}")).status_code == 422

        by_error = await http.post(f"{ADMIN}/replay", json={"error_type": "TimeoutError"})
        assert by_error.json() == {"matched": 1, "done": 1, "failed": [], "scanned": 4}
        await eventually(
            lambda: get_json(http, "/stock/SKU-1"),
            lambda level: level["reserved"] == 2,
            what="the replayed order reserved",
        )
        assert sorted(await letters()) == sorted([failed[0].id, other_type.id, failed[1].id])

        by_type = await http.post(f"{ADMIN}/replay", json={"event_type": "OrderPlaced"})
        assert by_type.json() == {"matched": 2, "done": 2, "failed": [], "scanned": 3}
        await eventually(
            lambda: get_json(http, "/stock/SKU-1"),
            lambda level: level["reserved"] == 2 + 1 + 4,
            what="both replayed orders reserved",
        )
        assert await letters() == [other_type.id], "only the matching letters moved"


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
async def test_a_dead_letter_whose_queue_is_gone_stays_in_the_dlq_when_replayed(
    broker_url: str, database_url: DatabaseUrl
) -> None:
    settings = InventorySettings(amqp_url=broker_url, database_url=await database_url("inventory"))
    stranded = factories.order_placed([("SKU-1", 1)])
    healthy = factories.order_placed([("SKU-1", 2)])
    async with BrokerProbe(broker_url) as probe, running(inventory_app(settings)) as (_, http):
        await http.put("/stock/SKU-1", json={"available": 10})
        await put_dead_letter(probe, stranded, original_queue="gone.order-events")
        await put_dead_letter(probe, healthy)
        await eventually(lambda: get_json(http, ADMIN), lambda found: len(found) == 2)

        outcome = (await http.post(f"{ADMIN}/replay", json={"all": True})).json()

        assert (outcome["matched"], outcome["done"]) == (2, 1)
        assert [reason.split(":")[0] for reason in outcome["failed"]] == [stranded.id]
        await eventually(
            lambda: get_json(http, "/stock/SKU-1"),
            lambda level: level["reserved"] == 2,
            what="the healthy letter replayed",
        )
        remaining = await get_json(http, ADMIN)
        assert [e["message_id"] for e in remaining] == [stranded.id], "kept, not lost"
        assert remaining[0]["original_queue"] == "gone.order-events"


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
async def test_the_command_line_lists_shows_and_replays_dead_letters(
    broker_url: str, database_url: DatabaseUrl
) -> None:
    settings = InventorySettings(
        amqp_url=broker_url,
        database_url=await database_url("inventory"),
        retry_delays=(0.2, 0.4),
    )
    poison = factories.order_placed([("SKU-1", 2)])
    async with BrokerProbe(broker_url) as probe, running(inventory_app(settings)) as (rt, http):
        await http.put("/stock/SKU-1", json={"available": 10})
        await execute(rt.db, poison_trigger("sqlite", str(poison.data["order_id"])))
        await probe.publish(ORDER_EVENTS, factories.body(poison), **factories.properties(poison))
        for n in range(2):
            junk = b"{junk %d" % n
            await probe.publish(
                ORDER_EVENTS, junk, message_id=f"junk-{n}", **factories.signed_by("order", junk)
            )
        await eventually(lambda: get_json(http, ADMIN), lambda found: len(found) == 3)

        listed = await dlq_cli(broker_url, "list", QUEUE, "--limit", "2")
        assert listed.returncode == 0, listed.stderr
        assert len(orjson.loads(listed.stdout)) == 2
        everything = await dlq_cli(broker_url, "list", QUEUE)
        assert {e["message_id"] for e in orjson.loads(everything.stdout)} == {
            poison.id,
            "junk-0",
            "junk-1",
        }

        shown = await dlq_cli(broker_url, "show", QUEUE, poison.id)
        assert shown.returncode == 0, shown.stderr
        (letter,) = orjson.loads(shown.stdout)
        assert orjson.loads(letter["body"]) == orjson.loads(factories.body(poison))
        assert letter["attempts"] == 3
        assert "poisoned reservation" in letter["headers"]["x-dead-letter-reason"]
        assert letter["headers"]["x-original-queue"] == QUEUE
        error_type = letter["error_type"]

        # Replayed before the fix: it fails again, and gets all its retries again.
        replayed_at = datetime.now(UTC)
        again = await dlq_cli(broker_url, "replay", QUEUE, "--id", poison.id)
        assert orjson.loads(again.stdout) == {"matched": 1, "done": 1, "failed": [], "scanned": 3}

        async def poison_letter() -> list[Any]:
            return [e for e in await get_json(http, ADMIN) if e["message_id"] == poison.id]

        (relapsed,) = await eventually(poison_letter, lambda found: len(found) == 1, timeout=30)
        first = datetime.fromisoformat(relapsed["first_failure_at"])
        last = datetime.fromisoformat(relapsed["last_failure_at"])
        assert relapsed["attempts"] == 3
        assert first >= replayed_at, "the replayed message started afresh"
        assert (last - first).total_seconds() >= 0.2 + 0.4, "and waited out each retry"

        drop = "DROP TRIGGER poison"
        await execute(rt.db, [drop])  # the fix
        fixed = await dlq_cli(broker_url, "replay", QUEUE, "--error-type", error_type)
        assert fixed.returncode == 0, fixed.stderr
        assert orjson.loads(fixed.stdout) == {"matched": 1, "done": 1, "failed": [], "scanned": 3}
        await eventually(
            lambda: get_json(http, "/stock/SKU-1"),
            lambda level: level["reserved"] == 2,
            what="the replayed order reserved",
        )
        assert {e["message_id"] for e in await get_json(http, ADMIN)} == {"junk-0", "junk-1"}
