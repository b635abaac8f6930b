"""The floor of an order's cost: bare aio-pika processes doing each service's broker work
(benchmarks/workers/floor.py), driven by the same load generator at the same rates as the
system, their CPU per order read the same way. What the system spends above it is ours."""

import asyncio
from pathlib import Path
from typing import Any

from benchmarks.config import BenchConfig
from benchmarks.e2e import SERVICES, load_orders
from benchmarks.footprint import Monitor
from benchmarks.procs import Worker, running, vhost
from tests.support.polling import eventually
from tests.support.processes import free_port

# Messages each role takes per order: order one outcome, inventory one OrderPlaced,
# notification the OrderPlaced and the outcome.
TAKEN_PER_ORDER = {"order": 1, "inventory": 1, "notification": 2}


async def run_floor(cfg: BenchConfig, workdir: Path, monitor: Monitor) -> dict[str, Any]:
    async with vhost("floor") as url:
        port = free_port()
        progress = {role: workdir / f"floor-{role}.count" for role in SERVICES}
        workers = {
            role: Worker(
                f"floor-{role}",
                "benchmarks.workers.floor",
                [
                    *("--role", role, "--url", url, "--port", str(port)),
                    *("--progress", str(progress[role]), "--prefetch", str(cfg.prefetch)),
                ],
                workdir,
            )
            for role in SERVICES
        }
        async with running(*workers.values()):
            # Inventory and notification first: the order role's first publish must find
            # their queues (every role declares the whole topology, as the services do).
            for role in ("inventory", "notification", "order"):
                await workers[role].start().wait_ready()
            for role, worker in workers.items():
                monitor.watch(f"floor-{role}", worker.pid)
            url_of_order = f"http://127.0.0.1:{port}"
            sent = 0
            results: dict[str, Any] = {}
            for tag, count, rate in (
                ("warmup", cfg.warmup_orders, cfg.rates[-1]),
                *((f"{rate:g}", round(rate * cfg.rate_seconds), rate) for rate in cfg.rates),
            ):
                mark = monitor.mark()
                load = await load_orders(
                    workdir, f"floor-{tag}", url_of_order, cfg, count, rate, sent
                )
                sent += count
                await _through(progress, sent)
                cpu_seconds = monitor.cpu_seconds_since(mark)
                accepted = sum(1 for record in load["records"] if record[2] == 202)
                if accepted != count:
                    raise RuntimeError(f"floor {tag}: {accepted}/{count} orders accepted")
                results[tag] = {
                    "rate": rate,
                    "orders": count,
                    "cpu_ms_per_order": {
                        role: round(1000 * cpu_seconds[f"floor-{role}"] / count, 3)
                        for role in SERVICES
                    },
                }
            for role in SERVICES:
                monitor.forget(f"floor-{role}")
    return results


async def _through(progress: dict[str, Path], orders: int) -> None:
    """Wait until every role has taken what `orders` orders bring it."""

    def taken() -> dict[str, int]:
        return {
            role: int(path.read_text() or 0) if path.exists() else 0
            for role, path in progress.items()
        }

    await eventually(
        taken,
        lambda now: all(now[r] >= orders * TAKEN_PER_ORDER[r] for r in progress),
        timeout=60 + orders / 20,
        interval=0.05,
        what="the floor's messages all taken",
    )
    await asyncio.sleep(0.2)  # the last acks' own CPU
