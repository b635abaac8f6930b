"""Baseline: the raw aio-pika pipeline the system sits on. One publisher process (persistent,
confirmed, a bounded window in flight) into a durable fanout exchange bound to two quorum
queues declared exactly as the services declare theirs, and one consumer process per queue
(manual acks, the services' prefetch)."""

import asyncio
from pathlib import Path
from typing import Any

import aio_pika

from benchmarks.config import BenchConfig
from benchmarks.footprint import Monitor
from benchmarks.procs import Worker, running, vhost
from benchmarks.stats import latency_summary, per_second
from benchmarks.workers import read_result
from shared.contract.topology import QueueSpec
from shared.messaging.declare import declare

EXCHANGE = "bench.pipeline"
QUEUES = (QueueSpec("bench.pipeline-a", EXCHANGE), QueueSpec("bench.pipeline-b", EXCHANGE))


async def run_pipeline(cfg: BenchConfig, workdir: Path, monitor: Monitor) -> dict[str, Any]:
    async with vhost("pipeline") as url:
        await _declare(url)
        mark = monitor.mark()
        saturated = await _round(url, cfg, workdir, cfg.pipeline_events, rate=None)
        cpu = saturated["cpu"] | monitor.cpu_since(mark)
        paced_count = max(1, round(cfg.rate * cfg.pipeline_rate_seconds))
        paced = await _round(url, cfg, workdir, paced_count, rate=cfg.rate)
    return {
        "events": cfg.pipeline_events,
        "in_flight": cfg.pipeline_in_flight,
        "events_per_s": saturated["events_per_s"],
        "publish_per_s": saturated["publish_per_s"],
        "latency_ms": saturated["latency_ms"],
        "body_bytes": saturated["body_bytes"],
        "cpu": cpu,
        "at_rate": {"rate": cfg.rate, "events": paced_count, "latency_ms": paced["latency_ms"]},
    }


async def _declare(url: str) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        await declare(channel, retry_delays=(), exchanges=[EXCHANGE], queues=QUEUES, streams=())


async def _round(
    url: str, cfg: BenchConfig, workdir: Path, count: int, *, rate: float | None
) -> dict[str, Any]:
    tag = "rate" if rate else "saturation"
    timeout = 60 + count / 200
    consumers = [
        Worker(
            f"pipeline-{tag}-{spec.name}",
            "benchmarks.workers.pipeline_consumer",
            [
                *("--url", url, "--queue", spec.name, "--count", str(count)),
                *("--prefetch", str(cfg.prefetch), "--timeout", str(timeout)),
                *("--out", str(workdir / f"pipeline-{tag}-{spec.name}.json")),
            ],
            workdir,
        )
        for spec in QUEUES
    ]
    publisher = Worker(
        f"pipeline-{tag}-publisher",
        "benchmarks.workers.pipeline_publisher",
        [
            *("--url", url, "--exchange", EXCHANGE, "--count", str(count)),
            *("--in-flight", str(cfg.pipeline_in_flight)),
            *(("--rate", str(rate)) if rate else ()),
            *("--out", str(workdir / f"pipeline-{tag}-publisher.json")),
        ],
        workdir,
    )
    async with running(*consumers, publisher):
        for consumer in consumers:
            consumer.start()
        await asyncio.gather(*(c.wait_ready() for c in consumers))
        publisher.start()
        await publisher.wait(timeout)
        await asyncio.gather(*(c.wait(timeout) for c in consumers))
    published = read_result(workdir / f"pipeline-{tag}-publisher.json")
    consumed = [read_result(workdir / f"pipeline-{tag}-{spec.name}.json") for spec in QUEUES]
    last = max(c["last"] for c in consumed)
    wall = last - published["first"]
    cpu = {"publisher": published["cpu_seconds"] / wall}
    cpu |= {f"consumer-{n}": c["cpu_seconds"] / wall for n, c in enumerate(consumed, 1)}
    return {
        # An event counts once it has been consumed by both consumers.
        "events_per_s": per_second(count, last - published["first"]),
        "publish_per_s": per_second(count, published["last"] - published["first"]),
        "latency_ms": latency_summary([ms for c in consumed for ms in c["latencies_ms"]]),
        "body_bytes": published["body_bytes"],
        "cpu": {name: round(share, 2) for name, share in cpu.items()},
    }
