"""The backlog run (`python -m benchmarks --backlog`, long: not part of the default run): up
to a million OrderPlaced queued (as many as about two minutes of publishing fit), then
drained by two inventory replicas sharing one PostgreSQL database, with pruning on: their
inbox and outbox keep `retention` seconds of rows, so the tables stay small however long
the backlog. Measured: the fill and drain rates, each replica's RSS through the drain (flat
or not), and the tables' sizes while draining, once drained, and once pruning has caught up.

Only the inventory service's queue takes the events here: every other queue of the
topology (which the replicas check is there) is a small classic queue that keeps only the
newest thousand, so the broker holds one backlog, not four."""

import asyncio
import time
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx

from benchmarks.config import BenchConfig
from benchmarks.e2e import seed_stock
from benchmarks.events import order_placed
from benchmarks.footprint import Monitor
from benchmarks.procs import Service, running, vhost
from benchmarks.publishing import publish_confirmed
from benchmarks.stats import per_second
from shared.contract import topology
from shared.contract.topology import INVENTORY_ORDER_EVENTS, ORDER_EVENTS
from shared.messaging.declare import declare
from shared.process.settings import ServiceSettings
from tests.support.databases import create_postgres_database, drop_postgres_database
from tests.support.metrics import metric
from tests.support.polling import eventually

RETRY_DELAYS: tuple[float, ...] = ServiceSettings.model_fields["retry_delays"].default
REPLICAS = ("inventory-1", "inventory-2")
CHECKPOINTS = (0, 25, 50, 75, 100)
CHUNK = 50_000  # messages made and published at a time (memory stays small)
SAMPLE_SECONDS = 2.0


async def run_backlog(cfg: BenchConfig, workdir: Path, monitor: Monitor) -> dict[str, Any]:
    data_dir = workdir / "backlog"
    data_dir.mkdir()
    database = await create_postgres_database()
    try:
        async with vhost("backlog") as url:
            settings = {
                "INBOX_RETENTION_SECONDS": str(cfg.backlog_retention),
                "OUTBOX_RETENTION_SECONDS": str(cfg.backlog_retention),
                "RETENTION_INTERVAL": "5",
                "DECLARE_TOPOLOGY": "false",
            }
            await _declare(url)
            first = Service("inventory", url, data_dir, settings, database_url=database)
            async with running(first):  # once: the schema (migrations) and the stock
                await first.start().wait_ready(timeout=60)
                await seed_stock(first.url, cfg.skus)
            queued, fill_seconds = await _fill(url, cfg)
            replicas = [
                Service("inventory", url, data_dir, settings, database_url=database)
                for _ in REPLICAS
            ]
            async with running(*replicas):
                drain = await _drain(replicas, database, queued, cfg, monitor)
    finally:
        await drop_postgres_database(database)
    return {
        "queued": queued,
        "fill_seconds": round(fill_seconds, 1),
        "fill_per_s": per_second(queued, fill_seconds),
        "replicas": len(REPLICAS),
        "retention_s": cfg.backlog_retention,
        **drain,
    }


async def _declare(url: str) -> None:
    """The inventory service's queue as the services declare it; every other part of the
    topology as a small classic queue (the replicas only check that it is there)."""
    bounded = {"x-max-length": 1000, "x-overflow": "drop-head"}
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        await declare(
            channel, retry_delays=RETRY_DELAYS, queues=[INVENTORY_ORDER_EVENTS], streams=()
        )
        others = [q for q in topology.QUEUES if q != INVENTORY_ORDER_EVENTS]
        for spec in others:
            await channel.declare_exchange(
                spec.dead_letter_exchange, aio_pika.ExchangeType.FANOUT, durable=True
            )
            queue = await channel.declare_queue(spec.name, durable=True, arguments=bounded)
            await queue.bind(spec.exchange)
            for name in (spec.dead_letter_queue, *map(spec.retry_queue, RETRY_DELAYS)):
                await channel.declare_queue(name, durable=True, arguments=bounded)
        stream = await channel.declare_queue(topology.AUDIT_EVENTS, durable=True, arguments=bounded)
        for exchange in topology.EXCHANGES:
            await stream.bind(exchange)


async def _fill(url: str, cfg: BenchConfig) -> tuple[int, float]:
    """Publish OrderPlaced with confirms until `backlog_messages` are queued or the fill's
    time is up; (how many, seconds)."""
    connection = await aio_pika.connect(url)
    queued, started = 0, time.time()
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.get_exchange(ORDER_EVENTS)
        while queued < cfg.backlog_messages and time.time() - started < cfg.backlog_fill_seconds:
            count = min(CHUNK, cfg.backlog_messages - queued)
            messages = [order_placed(queued + n, cfg.skus) for n in range(count)]
            await publish_confirmed(exchange, messages.__getitem__, count, in_flight=512)
            queued += count
            print(f"  queued {queued:,} in {time.time() - started:.0f}s", flush=True)
    return queued, time.time() - started


async def _drain(
    replicas: list[Service],
    database: str,
    total: int,
    cfg: BenchConfig,
    monitor: Monitor,
) -> dict[str, Any]:
    pg = await asyncpg.connect(database.replace("+psycopg", ""))
    http = httpx.AsyncClient(timeout=10)
    samples: list[dict[str, float]] = []
    started = time.time()

    async def sample() -> int:
        reserved = int(await pg.fetchval("SELECT count(*) FROM reservations"))
        sizes = await _sizes(pg)
        entry = {"at": time.time() - started, "reserved": reserved, **sizes}
        for name in REPLICAS:
            entry[f"rss_{name}"] = monitor.rss_mb(name)
        samples.append(entry)
        return reserved

    try:
        for name, replica in zip(REPLICAS, replicas, strict=True):
            replica.start()
            monitor.watch(name, replica.pid)
        await asyncio.gather(*(replica.wait_ready(timeout=120) for replica in replicas))
        await eventually(
            sample,
            lambda n: n >= total,
            timeout=120 + total / 200,
            interval=SAMPLE_SECONDS,
            what=f"{total} drained",
        )
        drained_at = time.time()
        consumed = {
            name: await metric(http, replica.url, "messages_consumed_total")
            for name, replica in zip(REPLICAS, replicas, strict=True)
        }
        at_drained = await _sizes(pg)
        # Pruning catches up: everything older than the retention goes.
        await eventually(
            lambda: _sizes(pg),
            lambda sizes: sizes["inbox"] == 0 and sizes["outbox"] == 0,
            timeout=cfg.backlog_retention + 180,
            interval=SAMPLE_SECONDS,
            what="inbox and outbox pruned",
        )
        pruned_at = time.time()
        after = await _sizes(pg)
        pruned = {
            name: await metric(http, replica.url, "database_rows_pruned_total")
            for name, replica in zip(REPLICAS, replicas, strict=True)
        }
    finally:
        await pg.close()
        await http.aclose()
        for name in REPLICAS:
            monitor.forget(name)
    first = next(s["at"] for s in samples if s["reserved"] > 0)
    return {
        "drain_seconds": round(drained_at - started - first, 1),
        "drain_per_s": per_second(total, drained_at - started - first),
        "consumed_per_replica": {k: int(v) for k, v in consumed.items()},
        "rss_mb_at_percent": {
            name: _checkpoints(samples, f"rss_{name}", total) for name in REPLICAS
        },
        "largest_tables_while_draining": {
            t: int(max(s[t] for s in samples)) for t in ("inbox", "outbox")
        },
        "tables_when_drained": at_drained,
        "tables_after_pruning": after,
        "pruning_caught_up_s_after_drain": round(pruned_at - drained_at, 1),
        "rows_pruned_per_replica": {k: int(v) for k, v in pruned.items()},
    }


async def _sizes(pg: asyncpg.Connection) -> dict[str, int]:
    inbox = await pg.fetchval("SELECT count(*) FROM inbox")
    outbox = await pg.fetchval("SELECT count(*) FROM outbox")
    reservations = await pg.fetchval("SELECT count(*) FROM reservations")
    return {"inbox": int(inbox), "outbox": int(outbox), "reservations": int(reservations)}


def _checkpoints(samples: list[dict[str, float]], key: str, total: int) -> dict[str, float]:
    result: dict[str, float] = {}
    idle = [s[key] for s in samples if s["reserved"] == 0]
    if idle:
        result["0"] = round(idle[-1], 1)
    for percent in CHECKPOINTS[1:]:
        found = next(s[key] for s in samples if s["reserved"] * 100 >= percent * total)
        result[str(percent)] = round(found, 1)
    return result
