"""Dead letters can be listed, inspected, replayed once the cause is fixed, and purged,
over HTTP and from the command line; a replayed message is applied exactly once."""

import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson
import pytest

from inventory_service.config import InventorySettings
from inventory_service.entrypoints.app import create_app as inventory_app
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
