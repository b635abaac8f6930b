"""Consumer drain: N OrderPlaced events already queued, then drained by (1) a bare aio-pika
consumer, (2) a bare FastStream subscriber, each from a quorum queue of its own declared
like the services' queues, and (3) the inventory service alone, with its real database
effect, inbox and outbox, from `inventory.order-events`. One publish fills all three
queues (they are all bound to `order.events`); each drainer runs alone, in its own process.

On PostgreSQL (a fresh database for the inventory service) only (3) runs: the bare
drainers touch no database, and their queues are not declared.
"""

import contextlib
from pathlib import Path
from typing import Any

import aio_pika

from benchmarks import databases
from benchmarks.config import BenchConfig
from benchmarks.e2e import seed_stock, watch_postgres
from benchmarks.events import order_placed
from benchmarks.footprint import Monitor
from benchmarks.procs import Service, Worker, running, vhost
from benchmarks.profiling import profiled
from benchmarks.publishing import publish_confirmed
from benchmarks.stats import per_second
from benchmarks.workers import read_result
from shared.contract import topology
from shared.contract.topology import ORDER_EVENTS, QueueSpec
from shared.messaging.declare import declare
from shared.process.settings import ServiceSettings
from tests.support.polling import eventually

RAW = QueueSpec("bench.raw-drain", ORDER_EVENTS)
FASTSTREAM = QueueSpec("bench.faststream-drain", ORDER_EVENTS)
# The services' default back-off: the retry queues' arguments must match theirs.
RETRY_DELAYS: tuple[float, ...] = ServiceSettings.model_fields["retry_delays"].default
CHECKPOINTS = (0, 25, 50, 75, 100)


async def run_drain(
    cfg: BenchConfig, workdir: Path, monitor: Monitor, backend: str = databases.SQLITE
) -> dict[str, Any]:
    sqlite = backend == databases.SQLITE
    name = "drain" if sqlite else f"drain-{backend}"
    data_dir = workdir / name
    data_dir.mkdir()
    baselines: dict[str, float] = {}
    async with vhost(name) as url, databases.for_services(["inventory"], backend) as urls:
        inventory = Service("inventory", url, data_dir, database_url=urls["inventory"])
        async with running(inventory):  # once, to create its database and stock
            await inventory.start().wait_ready(timeout=60)
            await seed_stock(inventory.url, cfg.skus)
        fill_seconds = await _fill(url, cfg, drainers=sqlite)
        if sqlite:
            raw = await _drainer("raw_drainer", url, RAW, cfg, data_dir)
            faststream = await _drainer("faststream_drainer", url, FASTSTREAM, cfg, data_dir)
            baselines = {
                "raw_per_s": raw["per_s"],
                "raw_cpu_share": raw["cpu_share"],
                "faststream_per_s": faststream["per_s"],
                "faststream_cpu_share": faststream["cpu_share"],
            }
        async with running(inventory):
            ours = await _drain_inventory(inventory, cfg, monitor, tag=name)
    return {
        "messages": cfg.drain_messages,
        "prefetch": cfg.prefetch,
        "fill_seconds": round(fill_seconds, 1),
        **baselines,
        **ours,
    }


async def _fill(url: str, cfg: BenchConfig, *, drainers: bool) -> float:
    """Declare the services' topology (and the bare drainers' queues, if `drainers`), and
    publish the events."""
    messages = [order_placed(n, cfg.skus) for n in range(cfg.drain_messages)]
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        await declare(channel, retry_delays=RETRY_DELAYS)
        if drainers:
            await declare(
                channel,
                retry_delays=RETRY_DELAYS,
                exchanges=[],
                queues=[RAW, FASTSTREAM],
                streams=(),
            )
        # Only the drained queues take these events; the notification service is not here.
        await channel.queue_delete(
            topology.NOTIFICATION_ORDER_EVENTS.name, if_unused=False, if_empty=False
        )
        exchange = await channel.get_exchange(ORDER_EVENTS)
        first, last = await publish_confirmed(
            exchange, messages.__getitem__, len(messages), in_flight=256
        )
    return last - first


async def _drainer(
    module: str, url: str, spec: QueueSpec, cfg: BenchConfig, data_dir: Path
) -> dict[str, float]:
    out = data_dir / f"{module}.json"
    drainer = Worker(
        module,
        f"benchmarks.workers.{module}",
        [
            *("--url", url, "--queue", spec.name, "--count", str(cfg.drain_messages)),
            *("--prefetch", str(cfg.prefetch), "--out", str(out)),
        ],
        data_dir,
    )
    async with running(drainer):
        await drainer.start().wait_ready()
        await drainer.wait(timeout=300)
    result = read_result(out)
    wall = result["last"] - result["first"]
    return {
        "per_s": per_second(result["count"], wall),
        "cpu_share": round(result["cpu_seconds"] / wall, 2),
    }


async def _drain_inventory(
    inventory: Service, cfg: BenchConfig, monitor: Monitor, tag: str
) -> dict[str, Any]:
    """Start the inventory service on the backlog and follow its inbox until every event
    is in it, noting its RSS on the way."""
    db, total = inventory.db, cfg.drain_messages
    inventory.start()
    monitor.watch("inventory", inventory.pid)
    watch_postgres(monitor, [inventory])
    mark = monitor.mark()
    samples: list[tuple[int, float, float]] = []  # (events processed, RSS, anonymous RSS)

    async def sample() -> int:
        processed = await db.scalar("SELECT count(*) FROM inbox")
        samples.append((processed, monitor.rss_mb("inventory"), monitor.anon_mb("inventory")))
        return processed

    async with profiled(cfg.py_spy, inventory.pid, cfg.output_dir, f"inventory-{tag}"):
        await eventually(
            sample, lambda n: n >= total, timeout=60 + total / 50, what=f"{total} drained"
        )
    cpu = monitor.cpu_since(mark)
    rss_after_idle = await _rss_when_outbox_empty(inventory, monitor)
    monitor.forget("inventory")
    monitor.forget_postgres()
    reserved = await db.scalar("SELECT count(*) FROM reservations WHERE status='RESERVED'")
    if reserved != total:
        raise RuntimeError(f"{reserved}/{total} reservations after the drain")
    (first, last, published), *_ = await db.query(
        "SELECT (SELECT min(received_at) FROM inbox), (SELECT max(created_at) FROM reservations),"
        " (SELECT max(published_at) FROM outbox)",
    )
    start = databases.epoch(first)
    return {
        "per_s": per_second(total, databases.epoch(last) - start),
        "outcomes_published_per_s": per_second(total, databases.epoch(published) - start),
        "rss_mb_at_percent": _checkpoints([(n, rss) for n, rss, _ in samples], total),
        "anon_rss_mb_at_percent": _checkpoints([(n, anon) for n, _, anon in samples], total),
        "rss_mb_after": round(rss_after_idle, 1),
        "cpu": cpu,
    }


async def _rss_when_outbox_empty(inventory: Service, monitor: Monitor) -> float:
    """Wait (a minute at most) for the relay to publish every outcome; the RSS then, with
    nothing in flight."""
    with contextlib.suppress(AssertionError):
        await eventually(
            lambda: inventory.db.scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL"),
            lambda unpublished: unpublished == 0,
            timeout=60,
        )
    return monitor.rss_mb("inventory")


def _checkpoints(samples: list[tuple[int, float]], total: int) -> dict[str, float]:
    """RSS at the first sample at or past each share of the drain (0%: the last sample
    before the first event was processed, i.e. started and idle)."""
    result: dict[str, float] = {}
    idle = [rss for processed, rss in samples if processed == 0]
    if idle:
        result["0"] = round(idle[-1], 1)
    for percent in CHECKPOINTS[1:]:
        rss = next(rss for processed, rss in samples if processed * 100 >= percent * total)
        result[str(percent)] = round(rss, 1)
    return result
