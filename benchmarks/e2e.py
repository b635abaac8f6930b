"""End to end: the three services as processes, orders placed over HTTP by the load
generator (a process of its own), each order measured from its POST to the last of its
outcome committed and both of its notifications recorded. On SQLite (each service's file),
or on PostgreSQL (a fresh database per service)."""

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from benchmarks import databases
from benchmarks.config import BenchConfig
from benchmarks.events import sku
from benchmarks.footprint import POSTGRES, Monitor
from benchmarks.milestones import milestones
from benchmarks.procs import Service, Worker, running, vhost
from benchmarks.profiling import profiled
from benchmarks.stats import distribution, latency_summary, per_second
from benchmarks.workers import read_result
from tests.support.polling import eventually
from tests.support.processes import free_port

if TYPE_CHECKING:
    from benchmarks.floor import Floor

SERVICES = ("order", "inventory", "notification")
STOCK_PER_SKU = 10_000_000
NOTIFICATIONS_PER_ORDER = 2


async def run_e2e(
    cfg: BenchConfig,
    workdir: Path,
    monitor: Monitor,
    backend: str = databases.SQLITE,
    floor: "Floor | None" = None,
) -> dict[str, Any]:
    """With `floor`, the floor takes a turn at each fixed rate just before and just after
    the system's (results under "floor")."""
    # SQLite's phase keeps the names it always had; PostgreSQL's has a folder of its own.
    suffix = "" if backend == databases.SQLITE else f"-{backend}"
    if suffix:
        workdir = workdir / f"e2e{suffix}"
        workdir.mkdir()
    async with running_system(cfg, workdir, monitor, backend, f"e2e{suffix}") as system:
        warmup = await system.place("warmup", cfg.warmup_orders, rate=None)
        at_rates: dict[str, dict[str, Any]] = {}
        floors: dict[str, dict[str, Any]] = {}
        for rate in cfg.rates:
            tag, count = f"{rate:g}", round(rate * cfg.rate_seconds)
            turns = [await floor.turn(f"{tag}-before", count, rate)] if floor else []
            at_rates[tag] = await system.place(f"rate-{tag}", count, rate=rate)
            if floor is not None:
                turns.append(await floor.turn(f"{tag}-after", count, rate))
                floors[tag] = floor.at(rate, count, turns)
        at_rate = at_rates.get(f"{cfg.rate:g}") or await system.place(
            "rate", cfg.rate_orders, rate=cfg.rate
        )
        async with profiled(
            cfg.py_spy, system.services["order"].pid, cfg.output_dir, f"order-saturation{suffix}"
        ):
            saturation = await system.place("saturation", cfg.saturation_orders, rate=None)
    results = {"warmup": warmup, "rate": at_rate, "rates": at_rates, "saturation": saturation}
    return {**results, "floor": floors} if floor is not None else results


@asynccontextmanager
async def running_system(
    cfg: BenchConfig, workdir: Path, monitor: Monitor, backend: str, phase: str
) -> AsyncIterator["System"]:
    """The three services on a vhost and databases of their own, ready, watched by
    `monitor` (and the PostgreSQL server's work for them), with stock to sell."""
    async with vhost(phase) as url, databases.for_services(SERVICES, backend) as urls:
        services = {name: Service(name, url, workdir, database_url=urls[name]) for name in SERVICES}
        async with running(*services.values()):
            await asyncio.gather(*(s.start().wait_ready(timeout=60) for s in services.values()))
            for name, service in services.items():
                monitor.watch(name, service.pid)
            watch_postgres(monitor, services.values())
            try:
                await seed_stock(services["inventory"].url, cfg.skus)
                yield System(cfg, workdir, services, monitor)
            finally:
                for name in SERVICES:
                    monitor.forget(name)
                monitor.forget_postgres()


def watch_postgres(monitor: Monitor, services: Iterable[Service]) -> None:
    """Have `monitor` measure the PostgreSQL server's CPU for these services' databases
    (nothing on SQLite)."""
    names = [s.postgres_database for s in services if s.postgres_database is not None]
    if names:
        monitor.watch_postgres(names)


async def calibrate_loadgen(cfg: BenchConfig, workdir: Path) -> dict[str, Any]:
    """What the load generator does against a server that costs nothing."""
    port = free_port()
    server = Worker(
        "trivial-server", "benchmarks.workers.trivial_server", ["--port", str(port)], workdir
    )
    async with running(server):
        await server.start().wait_ready()
        result = await load_orders(
            workdir, "calibration", f"http://127.0.0.1:{port}", cfg, cfg.calibration_requests
        )
    ok = sum(1 for record in result["records"] if record[2] == 202)
    if ok != cfg.calibration_requests:
        raise RuntimeError(f"only {ok}/{cfg.calibration_requests} answered by the trivial server")
    return {
        "requests": cfg.calibration_requests,
        "concurrency": cfg.concurrency,
        "requests_per_s": per_second(ok, result["wall_seconds"]),
        "cpu_share": round(result["cpu_seconds"] / result["wall_seconds"], 2),
    }


class System:
    """The running services, and the orders placed on them so far."""

    def __init__(
        self,
        cfg: BenchConfig,
        workdir: Path,
        services: dict[str, Service],
        monitor: Monitor,
        *,
        watched_as: dict[str, str] | None = None,
    ) -> None:
        """`watched_as`: the names the monitor reads each service's CPU under, when not the
        service's own (two systems running side by side)."""
        self.cfg = cfg
        self.workdir = workdir
        self.services = services
        self.monitor = monitor
        self.watched_as = watched_as or {name: name for name in services}
        self.accepted = 0
        self.sent = 0

    async def place(
        self, tag: str, count: int, *, rate: float | None, linger: float = 0.0
    ) -> dict[str, Any]:
        """`linger`: seconds more, once the orders have settled, before the CPU is read
        (work the services do a moment later, such as exporting spans, is counted)."""
        mark = self.monitor.mark()
        load = await load_orders(
            self.workdir, tag, self.services["order"].url, self.cfg, count, rate, self.sent
        )
        self.sent += count
        records = load["records"]
        accepted = {databases.uuid_key(r[3]): r for r in records if r[2] == 202}
        self.accepted += len(accepted)
        await self._settled(timeout=60 + count / 20)
        await asyncio.sleep(linger)
        cpu = self.monitor.cpu_since(mark)
        cpu_seconds = self.monitor.cpu_seconds_since(mark)
        finished = await self._finished_at(set(accepted))
        steps = await milestones(
            {name: service.db for name, service in self.services.items()},
            {key: record[0] for key, record in accepted.items()},
        )
        latencies_ms = [(finished[key] - r[0]) * 1000 for key, r in accepted.items()]
        first_sent = min(r[0] for r in records)
        server = (
            # The PostgreSQL server's CPU for the services' databases (the share of the
            # database work that SQLite does inside each service's process).
            {"cpu_ms_per_order_postgres_server": round(1000 * seconds / len(accepted), 2)}
            if (seconds := cpu_seconds.get(POSTGRES)) is not None
            else {}
        )
        return {
            "orders": count,
            "rate": rate,
            "concurrency": None if rate else self.cfg.concurrency,
            "http_errors": count - len(accepted),
            "orders_per_s": per_second(len(accepted), max(finished.values()) - first_sent),
            "post_per_s": per_second(count, max(r[1] for r in records) - first_sent),
            "post_latency_ms": latency_summary([(r[1] - r[0]) * 1000 for r in records]),
            "latency_ms": latency_summary(latencies_ms),
            "latency_distribution_ms": distribution(latencies_ms),
            "milestones_ms": steps,
            "loadgen_cpu_share": round(load["cpu_seconds"] / load["wall_seconds"], 2),
            "loadgen_max_lag_ms": round(load["max_lag_ms"], 2),
            "cpu": cpu,
            "cpu_ms_per_order": {
                name: round(1000 * cpu_seconds[watched] / len(accepted), 2)
                for name, watched in self.watched_as.items()
                if watched in cpu_seconds
            },
            **server,
        }

    async def _settled(self, timeout: float) -> None:
        """Every accepted order has its outcome and both notifications."""
        wanted = (self.accepted, NOTIFICATIONS_PER_ORDER * self.accepted)

        async def decided_and_notified() -> tuple[int, int]:
            decided = await self.services["order"].db.scalar(
                "SELECT count(*) FROM orders WHERE status != 'PENDING'"
            )
            notified = await self.services["notification"].db.scalar(
                "SELECT count(*) FROM notifications"
            )
            return decided, notified

        await eventually(
            decided_and_notified,
            lambda found: found[0] >= wanted[0] and found[1] >= wanted[1],
            timeout=timeout,
            what=f"(orders decided, notifications) {wanted}",
        )

    async def _finished_at(self, keys: set[str]) -> dict[str, float]:
        """When each order was done: the last of its outcome and its notifications. Fails
        unless every order is CONFIRMED with exactly one notification of each kind."""
        orders = await self.services["order"].db.query("SELECT id, status, updated_at FROM orders")
        notifications = await self.services["notification"].db.query(
            "SELECT order_id, kind, created_at FROM notifications"
        )
        finished: dict[str, float] = {}
        for order_id, status, updated_at in orders:
            key = databases.uuid_key(order_id)
            if key in keys:
                if status != "CONFIRMED":
                    raise RuntimeError(f"order {key} ended {status}, not CONFIRMED")
                finished[key] = databases.epoch(updated_at)
        kinds: dict[str, list[str]] = defaultdict(list)
        for order_id, kind, created_at in notifications:
            key = databases.uuid_key(order_id)
            if key in keys:
                kinds[key].append(kind)
                finished[key] = max(finished[key], databases.epoch(created_at))
        expected = ["order-confirmed", "order-received"]
        wrong = [key for key in keys if sorted(kinds[key]) != expected]
        if wrong or len(finished) != len(keys):
            raise RuntimeError(f"{len(wrong)} order(s) without exactly their 2 notifications")
        return finished


async def seed_stock(inventory_url: str, skus: int) -> None:
    async with aiohttp.ClientSession() as http:
        for n in range(skus):
            async with http.put(
                f"{inventory_url}/stock/{sku(n)}", json={"available": STOCK_PER_SKU}
            ) as response:
                response.raise_for_status()


async def load_orders(
    workdir: Path,
    tag: str,
    url: str,
    cfg: BenchConfig,
    count: int,
    rate: float | None = None,
    first: int = 0,
) -> dict[str, Any]:
    out = workdir / f"loadgen-{tag}.json"
    loadgen = Worker(
        f"loadgen-{tag}",
        "benchmarks.workers.loadgen",
        [
            *("--url", url, "--count", str(count), "--concurrency", str(cfg.concurrency)),
            *("--skus", str(cfg.skus), "--first", str(first), "--out", str(out)),
            *(("--rate", str(rate)) if rate else ()),
        ],
        workdir,
    )
    async with running(loadgen):
        await loadgen.start().wait_ready()
        await loadgen.wait(timeout=120 + count / 10)
    return read_result(out)
