"""The floor of an order's cost: bare aio-pika processes doing each service's broker work
(benchmarks/workers/floor.py), driven by the same load generator at the same rates as the
system, in turns beside it, their CPU per order read the same way. What the system spends
above it is ours."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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


class Floor:
    """The floor's processes, started once and taking orders in turns beside the system's
    (`benchmarks.e2e.run_e2e`): a turn before and a turn after each of the system's at the
    same rate, so that the machine's drift over a run (its speed swings by a third from
    minute to minute here) weighs on both sides alike."""

    def __init__(
        self,
        cfg: BenchConfig,
        workdir: Path,
        monitor: Monitor,
        progress: dict[str, Path],
        url_of_order: str,
    ) -> None:
        self._cfg, self._workdir, self._monitor = cfg, workdir, monitor
        self._progress = progress
        self._url = url_of_order
        self._sent = 0

    async def turn(self, tag: str, count: int, rate: float) -> dict[str, float]:
        """`count` orders at `rate`: CPU ms per order per role."""
        mark = self._monitor.mark()
        load = await load_orders(
            self._workdir, f"floor-{tag}", self._url, self._cfg, count, rate, self._sent
        )
        self._sent += count
        await _through(self._progress, self._sent)
        cpu_seconds = self._monitor.cpu_seconds_since(mark)
        accepted = sum(1 for record in load["records"] if record[2] == 202)
        if accepted != count:
            raise RuntimeError(f"floor {tag}: {accepted}/{count} orders accepted")
        return {role: 1000 * cpu_seconds[f"floor-{role}"] / count for role in SERVICES}

    @staticmethod
    def at(rate: float, orders: int, turns: list[dict[str, float]]) -> dict[str, Any]:
        """The floor at one rate from its turns (each of `orders` orders): their mean."""
        return {
            "rate": rate,
            "orders": orders * len(turns),
            "cpu_ms_per_order": {
                role: round(sum(t[role] for t in turns) / len(turns), 3) for role in SERVICES
            },
            "turns": [{role: round(t[role], 3) for role in SERVICES} for t in turns],
        }


@asynccontextmanager
async def running_floor(cfg: BenchConfig, workdir: Path, monitor: Monitor) -> AsyncIterator[Floor]:
    """The floor's processes on a vhost of their own, ready, watched by `monitor` (as
    `floor-<role>`) and warmed up."""
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
            try:
                floor = Floor(cfg, workdir, monitor, progress, f"http://127.0.0.1:{port}")
                await floor.turn("warmup", cfg.warmup_orders, cfg.rates[-1])
                yield floor
            finally:
                for role in SERVICES:
                    monitor.forget(f"floor-{role}")


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
