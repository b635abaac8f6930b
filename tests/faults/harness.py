"""The fault-injection harness: the three services as real processes, load over HTTP, a
fault in the middle, then an account through the public APIs of what became of every
accepted order. Lost and duplicated must both be zero."""

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.polling import eventually
from tests.support.processes import ServiceProcess, stop_all
from tests.support.services import get_json

FAST_RECOVERY = {
    "RETRY_DELAYS": "0.2,0.5,1,2,4",
    "OUTBOX_LEASE_SECONDS": "3",
    "OUTBOX_POLL_INTERVAL": "0.5",
    "LOG_LEVEL": "INFO",
}
# A fault test's own waits add up to about six minutes at the worst (services ready 30 s,
# the fault's own waits up to 60 s each and rabbitmqctl's up to 120 s, the tally's 120 s
# to settle and 30 s for notifications, the stop 20 s): pytest-timeout must leave them
# room, so that a slow failure reports its own assertion and tally line.
TEST_TIMEOUT = 600
IN_STOCK = ("SKU-A", "SKU-B", "SKU-C")
NOTIFICATIONS_FOR = {
    "CONFIRMED": {"order-received", "order-confirmed"},
    "REJECTED": {"order-received", "order-rejected"},
}
STOCK_PER_SKU = 100_000
LISTED = 1000  # the most a listing (GET /orders, GET /notifications) returns at once


@dataclass
class Order:
    id: str
    items: list[dict[str, Any]]
    expected: str
    accepted_at: float = field(default_factory=time.monotonic)  # when it got its 202


# Every account and piece of evidence the fault tests printed in this run, repeated at its
# end (tests/faults/conftest.py), so that a quiet run (-q) still shows its figures.
ACCOUNTS: list[str] = []


def record(line: str) -> None:
    """Print a fault test's figure and keep it for the run's summary."""
    print(line)
    ACCOUNTS.append(line)


@dataclass
class Tally:
    """What became of the accepted orders, as the public APIs tell it."""

    fault: str
    placed: int = 0
    confirmed: int = 0
    rejected: int = 0
    pending: int = 0
    lost: int = 0
    wrong_outcome: int = 0
    duplicated_reservations: int = 0
    missing_notifications: int = 0
    duplicated_notifications: int = 0
    wrong_notifications: int = 0  # a kind the order's outcome does not call for
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"FAULT {self.fault}: placed={self.placed} confirmed={self.confirmed} "
            f"rejected={self.rejected} pending={self.pending} lost={self.lost} "
            f"wrong={self.wrong_outcome} duplicated_reservations={self.duplicated_reservations} "
            f"missing_notifications={self.missing_notifications} "
            f"duplicated_notifications={self.duplicated_notifications} "
            f"wrong_notifications={self.wrong_notifications}"
        )


class System:
    def __init__(
        self,
        broker_url: str,
        database_urls: dict[str, str],
        log_dir: Path,
        *,
        env: dict[str, str] | None = None,
        modules: dict[str, str] | None = None,
        service_env: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.broker_url = broker_url
        self._service_env = service_env or {}
        self._database_urls = database_urls
        self._log_dir = log_dir
        self._env = {**FAST_RECOVERY, **(env or {})}
        self._modules = modules or {}
        self.processes: dict[str, list[ServiceProcess]] = {}
        self.orders: list[Order] = []
        self.http = httpx.AsyncClient(timeout=15)

    def spawn(
        self, name: str, module: str | None = None, env: dict[str, str] | None = None
    ) -> ServiceProcess:
        """Start another process of service `name` (a replacement, a replica, an upgrade),
        with `env` on top of the system's settings."""
        process = ServiceProcess(
            name,
            {
                "AMQP_URL": self.broker_url,
                "DATABASE_URL": self._database_urls[name],
                **self._env,
                **self._service_env.get(name, {}),
                **(env or {}),
            },
            self._log_dir,
            module=module or self._modules.get(name),
        ).start()
        self.processes.setdefault(name, []).append(process)
        return process

    def database_url(self, name: str) -> str:
        return self._database_urls[name]

    def url(self, name: str) -> str:
        live = [p for p in self.processes[name] if p.process and p.process.poll() is None]
        # A process just started (a replacement, an upgrade) serves once it is ready.
        ready = [p for p in live if p.ready]
        return (ready or live or self.processes[name])[-1].url

    async def start(self, inventories: int = 1) -> None:
        for name in ("order", "notification"):
            self.spawn(name)
        for _ in range(inventories):
            self.spawn("inventory")
        await asyncio.gather(*(p.wait_ready() for ps in self.processes.values() for p in ps))
        for sku in (*IN_STOCK, "POISON-1"):
            response = await self.http.put(
                f"{self.url('inventory')}/stock/{sku}", json={"available": STOCK_PER_SKU}
            )
            response.raise_for_status()

    async def stop(self) -> None:
        """Stop every process; fail unless each still running stopped cleanly and no log
        says something went unhandled (a CRITICAL line, such as a consumer worker that
        died). A process that ended before (killed, or crashed on purpose by a fault
        module) has only its log checked."""
        await self.http.aclose()
        everyone = [p for ps in self.processes.values() for p in ps]
        running = [p for p in everyone if p.running]
        await asyncio.to_thread(stop_all, everyone)
        unclean = {
            f"{p.name} ({p.port})": p.why_not_stopped_cleanly() if p in running else p.unhandled()
            for p in everyone
        }
        unclean = {name: reasons for name, reasons in unclean.items() if reasons}
        assert not unclean, f"not stopped cleanly: {unclean}"

    def logs(self) -> str:
        return "\n".join(
            f"===== {p.name} ({p.port}) =====\n{p.log()}"
            for ps in self.processes.values()
            for p in ps
        )

    async def place(
        self,
        count: int,
        *,
        rate: float = 100.0,
        concurrency: int = 16,
        rng: random.Random | None = None,
    ) -> list[Order]:
        """POST `count` orders at about `rate` per second; about one in ten is for an
        unknown sku and must be rejected. Every order must be accepted (202)."""
        rng = rng or random.Random(count)
        gate = asyncio.Semaphore(concurrency)

        async def one(n: int) -> Order:
            await asyncio.sleep(n / rate)
            if n % 10 == 9:
                items = [{"sku": "SKU-A", "quantity": 1}, {"sku": "NO-SUCH", "quantity": 1}]
                expected = "REJECTED"
            else:
                items = [
                    {"sku": sku, "quantity": rng.randint(1, 3)}
                    for sku in rng.sample(IN_STOCK, rng.randint(1, 3))
                ]
                expected = "CONFIRMED"
            body = {"customer_id": f"c-{n}", "email": f"c{n}@example.com", "items": items}
            async with gate:
                response = await self.post_order(body)
            return Order(response.json()["id"], items, expected)

        placed = await asyncio.gather(*(one(n) for n in range(count)))
        self.orders.extend(placed)
        return list(placed)

    async def post_order(self, body: dict[str, Any]) -> httpx.Response:
        """POST like a careful client: with an Idempotency-Key, retried on a network error
        (the same key makes a retry safe: it returns the order already placed)."""
        key = str(uuid.uuid4())
        for attempt in range(20):  # a service being replaced may refuse for a moment
            try:
                response = await self.http.post(
                    f"{self.url('order')}/orders", json=body, headers={"Idempotency-Key": key}
                )
                break
            except httpx.TransportError:
                if attempt == 19:
                    raise
                await asyncio.sleep(0.25)
        assert response.status_code == 202, response.text
        return response

    async def place_one(self, items: list[dict[str, Any]], expected: str) -> Order:
        response = await self.post_order({"customer_id": "one", "items": items})
        order = Order(response.json()["id"], items, expected)
        self.orders.append(order)
        return order

    async def settled(self, timeout: float = 120.0) -> dict[str, dict[str, Any]]:
        """Wait until every order has reached the state it is expected to end in."""
        expected = {o.id: o.expected for o in self.orders}

        async def states() -> dict[str, dict[str, Any]]:
            return {o["id"]: o for o in await self._orders(expected)}

        return await eventually(
            states,
            lambda found: all(
                found.get(i, {}).get("status") == status for i, status in expected.items()
            ),
            timeout=timeout,
            interval=0.5,
            what="every order in its final state",
        )

    async def tally(self, fault: str, *, timeout: float = 120.0) -> Tally:
        """Wait for the orders to settle, then count what was lost or doubled."""
        result = Tally(fault, placed=len(self.orders))
        try:
            final = await self.settled(timeout)
        except AssertionError as exc:
            result.notes.append(str(exc)[:500])
            final = {o["id"]: o for o in await self._orders({o.id for o in self.orders})}
        statuses = Counter(final.get(o.id, {}).get("status", "LOST") for o in self.orders)
        result.confirmed, result.rejected = statuses["CONFIRMED"], statuses["REJECTED"]
        result.pending, result.lost = statuses["PENDING"], statuses["LOST"]
        result.wrong_outcome = sum(
            1
            for o in self.orders
            if final.get(o.id, {}).get("status") not in (o.expected, "PENDING", None)
        )

        reserved: Counter[str] = Counter()
        for o in self.orders:
            if final.get(o.id, {}).get("status") == "CONFIRMED":
                for item in o.items:
                    reserved[item["sku"]] += item["quantity"]
        stock = {s["sku"]: s for s in await get_json(self.http, f"{self.url('inventory')}/stock")}
        result.duplicated_reservations = sum(
            abs(stock[sku]["reserved"] - reserved[sku]) for sku in stock
        )
        result.notes.extend(
            f"{sku}: available+reserved={s['available'] + s['reserved']}"
            for sku, s in stock.items()
            if s["available"] + s["reserved"] != STOCK_PER_SKU
        )

        settled_ids = [o.id for o in self.orders if final.get(o.id, {}).get("status") != "PENDING"]
        notifications = await self._notifications(settled_ids)
        kinds = Counter((n["order_id"], n["kind"]) for n in notifications)
        result.duplicated_notifications = sum(c - 1 for c in kinds.values() if c > 1)
        # What each order must get, per (order, kind): received, and its outcome's kind.
        for order_id in settled_ids:
            wanted = NOTIFICATIONS_FOR[final[order_id]["status"]]
            got = {kind for (i, kind) in kinds if i == order_id}
            result.missing_notifications += len(wanted - got)
            result.wrong_notifications += len(got - wanted)
        record("\n  ".join([result.line(), *result.notes]))
        return result

    async def _orders(self, ids: Iterable[str]) -> list[dict[str, Any]]:
        """These orders as the order service has them (a lost one is missing)."""
        url = f"{self.url('order')}/orders"

        async def one(order_id: str) -> list[dict[str, Any]]:
            try:
                return [await get_json(self.http, f"{url}/{order_id}")]
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code == 404:
                    return []
                raise

        return await self._listed(url, "id", set(ids), per_id=1, each=one)

    async def _notifications(self, order_ids: Iterable[str]) -> list[dict[str, Any]]:
        wanted = set(order_ids)
        url = f"{self.url('notification')}/notifications"

        async def of_order(order_id: str) -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = await get_json(self.http, f"{url}?order_id={order_id}")
            return found

        async def fetch() -> list[dict[str, Any]]:
            return await self._listed(url, "order_id", wanted, per_id=2, each=of_order)

        # Notifications trail the outcomes a little: wait for them, then count.
        try:
            return await eventually(fetch, lambda ns: len(ns) >= 2 * len(wanted), timeout=30)
        except AssertionError:
            return await fetch()

    async def _listed(
        self,
        url: str,
        key: str,
        wanted: set[str],
        *,
        per_id: int,
        each: Callable[[str], Awaitable[list[dict[str, Any]]]],
    ) -> list[dict[str, Any]]:
        """What `url` lists for the `wanted` ids (`key`), expecting `per_id` of each. A
        listing holds the newest LISTED at most: when it is full, the ids it does not show
        whole (older, cut off) are asked for one by one. A test placing more than that
        (a rolling upgrade on a slow machine) would otherwise count the rest as missing."""
        listed = await get_json(self.http, f"{url}?limit={LISTED}")
        found = [item for item in listed if item[key] in wanted]
        if len(listed) < LISTED:
            return found
        seen = Counter(item[key] for item in found)
        cut_off = [i for i in wanted if seen[i] < per_id]
        found = [item for item in found if seen[item[key]] >= per_id]
        for start in range(0, len(cut_off), 32):
            for items in await asyncio.gather(*map(each, cut_off[start : start + 32])):
                found.extend(items)
        return found


def assert_nothing_lost_or_doubled(tally: Tally, *, pending: int = 0) -> None:
    assert tally.lost == 0, tally.line()
    assert tally.pending == pending, tally.line()
    assert tally.wrong_outcome == 0, tally.line()
    assert tally.duplicated_reservations == 0, tally.line()
    assert tally.missing_notifications == 0, tally.line()
    assert tally.duplicated_notifications == 0, tally.line()
    assert tally.wrong_notifications == 0, tally.line()
    assert not [n for n in tally.notes if "available+reserved" in n], tally.notes


async def when(
    condition: Callable[[], Awaitable[bool] | bool], what: str, timeout: float = 60.0
) -> None:
    await eventually(condition, bool, timeout=timeout, interval=0.05, what=what)
