"""The cluster profile loses a node under load and loses nothing.

Orders are placed at a steady rate over HTTP the whole time. The node holding most of the
work queues' leaders is killed with `docker kill`, left down, started again and waited for
until it is back in every queue; then the node most of the services' connections are on
(the one holding most leaders among the other two, if that was the first) is killed the
same way. So both a leader's loss and the loss of the services' own node are shown. Then every
accepted order is accounted for, from the services' own databases: each ends CONFIRMED or
REJECTED as it must, stock is reserved once per confirmed order, each order has exactly its
two notifications; no dead letters; a consumer on every work queue. The longest time
without progress (no order settling while orders wait) is measured for each kill."""

import asyncio
import itertools
import os
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from shared.contract.topology import AUDIT_EVENTS, QUEUES
from tests.cluster.stack import NODES, ClusterStack
from tests.faults.harness import NOTIFICATIONS_FOR, Tally, assert_nothing_lost_or_doubled
from tests.support.polling import eventually

pytestmark = pytest.mark.timeout(900)

RATE = 20.0  # orders per second, steady
DOWN_SECONDS = 20.0  # how long a killed node stays down
SETTLE_SECONDS = 10.0  # orders flowing between one node's return and the next kill
IN_STOCK = ("SKU-A", "SKU-B", "SKU-C")
STOCK_PER_SKU = 1_000_000
WORK_QUEUES = tuple(spec.name for spec in QUEUES)


@dataclass
class Placed:
    id: str
    items: list[dict[str, Any]]
    expected: str
    at: float  # wall clock, when it was accepted


@dataclass
class Kill:
    node: str
    leaders: dict[str, str]  # work queue -> leader, before the kill
    killed_at: float
    started_at: float = 0.0
    back_at: float = 0.0  # the node a member of every queue again, consumers on every queue
    figures: dict[str, Any] = field(default_factory=dict)


class Load:
    """Orders at RATE per second until stopped; about one in ten for an unknown sku."""

    def __init__(self, order_url: str) -> None:
        self.url = order_url
        self.placed: list[Placed] = []
        self.failures: list[str] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        assert self._task is not None
        await self._task

    async def _run(self) -> None:
        rng = random.Random(14)
        gate = asyncio.Semaphore(32)
        started, n = time.monotonic(), 0
        pending: set[asyncio.Task[None]] = set()
        async with httpx.AsyncClient(timeout=15) as http:
            while not self._stop.is_set():
                await asyncio.sleep(max(0.0, started + n / RATE - time.monotonic()))
                if n % 10 == 9:
                    items = [{"sku": "SKU-A", "quantity": 1}, {"sku": "NO-SUCH", "quantity": 1}]
                    expected = "REJECTED"
                else:
                    skus = rng.sample(IN_STOCK, rng.randint(1, 3))
                    items = [{"sku": sku, "quantity": rng.randint(1, 3)} for sku in skus]
                    expected = "CONFIRMED"
                task = asyncio.create_task(self._place(http, gate, n, items, expected))
                pending.add(task)
                task.add_done_callback(pending.discard)
                n += 1
            await asyncio.gather(*pending)

    async def _place(
        self,
        http: httpx.AsyncClient,
        gate: asyncio.Semaphore,
        n: int,
        items: list[dict[str, Any]],
        expected: str,
    ) -> None:
        body = {"customer_id": f"c-{n}", "email": f"c{n}@example.com", "items": items}
        key = str(uuid.uuid4())  # a retry with the same key returns the same order
        async with gate:
            for _ in range(40):
                try:
                    response = await http.post(
                        f"{self.url}/orders", json=body, headers={"Idempotency-Key": key}
                    )
                except httpx.TransportError:
                    await asyncio.sleep(0.25)
                    continue
                if response.status_code == 202:
                    self.placed.append(Placed(response.json()["id"], items, expected, time.time()))
                else:
                    self.failures.append(f"{response.status_code} {response.text[:200]}")
                return
            self.failures.append(f"order {n}: no answer")


def work_queue_leaders(stack: ClusterStack, ask: str) -> dict[str, str]:
    """Each work queue's leader (and the event log's, which every publication goes to)."""
    queues = stack.queues(ask)
    leaders = {name: str(queues[name]["leader"]).removeprefix("rabbit@") for name in WORK_QUEUES}
    listed = stack.docker(
        "exec",
        stack.container(ask),
        "rabbitmqctl",
        "-q",
        "list_queues",
        "name",
        "leader",
        "--no-table-headers",
    )
    for line in listed.splitlines():
        name, _, leader = line.partition("\t")
        if name == AUDIT_EVENTS:
            leaders[name] = leader.strip().removeprefix("rabbit@")
    return leaders


def services_connected_to(stack: ClusterStack, ask: str) -> Counter[str]:
    """How many of the services' connections each node holds."""
    with stack.management(ask) as api:
        response = api.get("/connections", params={"columns": "user,node"})
        response.raise_for_status()
        found = response.json()
    users = {"order", "inventory", "notification"}
    return Counter(str(c["node"]).removeprefix("rabbit@") for c in found if c.get("user") in users)


def live_node(stack: ClusterStack, but: str | None = None) -> str:
    return next(n for n in NODES if n != but and stack.running(n))


async def back_in_every_queue(stack: ClusterStack, node: str, ask: str) -> None:
    """The node is a running member of every quorum queue again, and every work queue has
    a consumer."""

    def state() -> dict[str, Any]:
        try:
            queues = stack.queues(ask)
        except httpx.HTTPError as exc:
            return {"error": repr(exc)}
        quorum = [q for q in queues.values() if q.get("type") == "quorum"]
        member = f"rabbit@{node}"
        return {
            "offline in": [q["name"] for q in quorum if member not in q.get("online", [])],
            "without consumer": [n for n in WORK_QUEUES if queues[n].get("consumers", 0) < 1],
        }

    await eventually(
        lambda: asyncio.to_thread(state),
        lambda s: "error" not in s and not s["offline in"] and not s["without consumer"],
        timeout=180,
        interval=1,
        what=f"{node} back in every queue, a consumer on each",
    )


async def kill_and_restore(stack: ClusterStack, node: str) -> Kill:
    ask = live_node(stack, but=node)
    kill = Kill(node, await asyncio.to_thread(work_queue_leaders, stack, ask), time.time())
    container = stack.container(node)
    await asyncio.to_thread(stack.docker, "kill", container)
    assert not await asyncio.to_thread(stack.running, node)
    await asyncio.sleep(DOWN_SECONDS)
    await asyncio.to_thread(stack.docker, "start", container)
    kill.started_at = time.time()
    await back_in_every_queue(stack, node, ask)
    kill.back_at = time.time()
    return kill


def longest_stall(settled: list[float], since: float, until: float) -> tuple[float, float]:
    """The longest time between two orders settling (or from `since` to the first), within
    [since, until]: (seconds, when it began)."""
    times = [since, *sorted(t for t in settled if since <= t <= until)]
    gaps = [(b - a, a) for a, b in itertools.pairwise(times)]
    return max(gaps) if gaps else (until - since, since)


async def test_losing_any_one_node_under_load_loses_nothing(cluster: ClusterStack) -> None:
    stack = cluster
    order_url = f"http://127.0.0.1:{stack.settings['ORDER_PORT']}"
    inventory_url = stack.url("inventory_service", 8001)
    token = {"Authorization": f"Bearer {stack.settings['ADMIN_TOKEN']}"}
    async with httpx.AsyncClient(timeout=10) as client:
        for sku in IN_STOCK:
            response = await client.put(
                f"{inventory_url}/stock/{sku}", json={"available": STOCK_PER_SKU}, headers=token
            )
            response.raise_for_status()

    leaders = work_queue_leaders(stack, "rabbitmq")
    first = Counter(leaders[q] for q in WORK_QUEUES).most_common(1)[0][0]
    load = Load(order_url)
    load.start()
    began = time.time()
    kills = []
    try:
        await asyncio.sleep(SETTLE_SECONDS)
        kills.append(await kill_and_restore(stack, first))
        await asyncio.sleep(SETTLE_SECONDS)
        ask = live_node(stack)
        now = work_queue_leaders(stack, ask)
        others = [n for n in NODES if n != first]
        led = Counter(now[q] for q in WORK_QUEUES)
        connected = await asyncio.to_thread(services_connected_to, stack, ask)
        second = max(others, key=lambda n: (connected[n], led[n], n == "rabbitmq-2"))
        stack.journal.append(f"the services' connections by node: {dict(connected)}")
        kills.append(await kill_and_restore(stack, second))
        await asyncio.sleep(SETTLE_SECONDS)
    finally:
        await load.stop()
    ended = time.time()
    assert not load.failures, load.failures[:5]

    tally, settled = await account(stack, load.placed)
    for kill in kills:
        window = [p for p in load.placed if kill.killed_at <= p.at <= kill.back_at]
        stall, stall_at = longest_stall(settled, kill.killed_at - 1, kill.back_at + 5)
        kill.figures = {
            "orders accepted while it was down or rejoining": len(window),
            "longest stall s": round(stall, 1),
            "stall began s after the kill": round(stall_at - kill.killed_at, 1),
            "down s": round(kill.started_at - kill.killed_at, 1),
            "back in every queue s after start": round(kill.back_at - kill.started_at, 1),
        }
        leader_of = sorted(q for q, n in kill.leaders.items() if n == kill.node)
        stack.journal.append(f"killed {kill.node} (leader of {leader_of}): {kill.figures}")
    whole, _ = longest_stall(settled, began + 2, ended)
    stack.journal.append(tally.line())
    stack.journal.append(
        f"orders {tally.placed} over {ended - began:.0f} s at {RATE:.0f}/s; longest stall "
        f"overall {whole:.1f} s"
    )
    if keep := os.environ.get("CLUSTER_TEST_LOGS"):
        await asyncio.to_thread(Path(keep).write_text, stack.logs())
    assert_nothing_lost_or_doubled(tally)

    ask = live_node(stack)
    queues = await asyncio.to_thread(stack.queues, ask)
    letters = {n: q.get("messages", 0) for n, q in queues.items() if n.endswith(".dlq")}
    assert not any(letters.values()), letters
    assert all(queues[n]["consumers"] >= 1 for n in WORK_QUEUES), queues
    members = {n: len(q["members"]) for n, q in queues.items() if q.get("type") == "quorum"}
    assert set(members.values()) == {3}, members


async def account(stack: ClusterStack, placed: list[Placed]) -> tuple[Tally, list[float]]:
    """What became of every accepted order, from the services' databases once it has
    settled (PostgreSQL on its published port, as its superuser); and when each settled."""
    port, password = stack.settings["POSTGRES_PORT"], stack.settings["POSTGRES_PASSWORD"]

    async def query(database: str, sql: str) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(
            host="127.0.0.1", port=int(port), user="postgres", password=password, database=database
        )
        try:
            return list(await conn.fetch(sql))
        finally:
            await conn.close()

    expected = {p.id: p for p in placed}

    async def orders() -> dict[str, Any]:
        rows = await query("orders", "SELECT id::text, status, updated_at FROM orders")
        return {r["id"]: r for r in rows}

    final = await eventually(
        orders,
        lambda found: all(
            found.get(i) is not None and found[i]["status"] == p.expected
            for i, p in expected.items()
        ),
        timeout=180,
        interval=1,
        what="every accepted order in its final state",
    )
    tally = Tally("cluster node loss", placed=len(placed))
    statuses = Counter(final[i]["status"] if i in final else "LOST" for i in expected)
    tally.confirmed, tally.rejected = statuses["CONFIRMED"], statuses["REJECTED"]
    tally.pending, tally.lost = statuses["PENDING"], statuses["LOST"]
    tally.wrong_outcome = sum(
        1 for i, p in expected.items() if final[i]["status"] not in (p.expected, "PENDING")
    )
    reserved: Counter[str] = Counter()
    for p in placed:
        if p.expected == "CONFIRMED":
            for item in p.items:
                reserved[item["sku"]] += item["quantity"]
    stock = {
        r["sku"]: r for r in await query("inventory", "SELECT sku, available, reserved FROM stock")
    }
    tally.duplicated_reservations = sum(abs(stock[s]["reserved"] - reserved[s]) for s in stock)
    tally.notes.extend(
        f"{sku}: available+reserved={s['available'] + s['reserved']}"
        for sku, s in stock.items()
        if s["available"] + s["reserved"] != STOCK_PER_SKU
    )

    async def notifications() -> list[asyncpg.Record]:
        return await query(
            "notifications",
            "SELECT order_id::text, kind, count(*) AS n FROM notifications GROUP BY order_id, kind",
        )

    kinds = await eventually(
        notifications,
        lambda rows: sum(r["n"] for r in rows) >= 2 * len(expected),
        timeout=60,
        what="both notifications of every order",
    )
    got: dict[str, set[str]] = {}
    for row in kinds:
        if row["order_id"] in expected:
            got.setdefault(row["order_id"], set()).add(row["kind"])
            tally.duplicated_notifications += row["n"] - 1
    for order_id, p in expected.items():
        wanted = NOTIFICATIONS_FOR[p.expected]
        tally.missing_notifications += len(wanted - got.get(order_id, set()))
        tally.wrong_notifications += len(got.get(order_id, set()) - wanted)
    settled = [r["updated_at"].timestamp() for r in final.values() if r["status"] != "PENDING"]
    return tally, settled
