"""What tracing costs: two copies of the system side by side, one exporting its spans over
OTLP (to a receiver in this process, as they would go to Jaeger or a collector) and one
not, taking orders at the fixed rate in turns: off, on, then on, off, ... so that neither
always runs first and a drift of the machine's speed weighs on both alike. Each turn's CPU
is read once its spans have been exported; the receiver decodes nothing until the end, so
that it takes no CPU from the services while they are measured. CPU per order per service
for each, pooled over its turns, the ratio, and each pair's ratio as a measure of the
noise."""

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path
from statistics import median
from typing import Any

from benchmarks.config import BenchConfig
from benchmarks.e2e import SERVICES, System, seed_stock
from benchmarks.footprint import Monitor
from benchmarks.procs import Service, running, vhost
from tests.support.otlp import otlp_receiver

TAGS = ("off", "on")
EXPORT_DELAY_S = 1.0  # the batch span processor's delay (the SDK's default is 5 s)
LINGER_S = EXPORT_DELAY_S + 0.5


async def run_tracing_cost(cfg: BenchConfig, workdir: Path, monitor: Monitor) -> dict[str, Any]:
    turns: dict[str, list[dict[str, Any]]] = {tag: [] for tag in TAGS}
    with otlp_receiver() as (endpoint, receiver):
        exporting = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": str(round(EXPORT_DELAY_S * 1000)),
        }
        async with AsyncExitStack() as stack:
            systems = {
                tag: await _started(
                    stack, cfg, workdir, monitor, tag, exporting if tag == "on" else {}
                )
                for tag in TAGS
            }
            orders = max(1, round(cfg.rate * cfg.tracing_turn_seconds))
            for pair in range(cfg.tracing_pairs):
                for tag in TAGS if pair % 2 == 0 else TAGS[::-1]:
                    # Both wait out the exporter's delay: a turn's spans are exported in it.
                    turns[tag].append(
                        await systems[tag].place(
                            f"tracing-{tag}-{pair}", orders, rate=cfg.rate, linger=LINGER_S
                        )
                    )
            for tag in TAGS:
                for name in SERVICES:
                    monitor.forget(f"{name}-{tag}")
        spans_exported = len(receiver.snapshot())
    results: dict[str, Any] = {tag: _pooled(turns[tag]) for tag in TAGS}
    off, on = results["off"]["cpu_ms_per_order"], results["on"]["cpu_ms_per_order"]
    results["cpu_overhead"] = {name: round(on[name] / off[name] - 1, 3) for name in off}
    by_pair = [
        _total(on_turn) / _total(off_turn) - 1
        for off_turn, on_turn in zip(turns["off"], turns["on"], strict=True)
    ]
    results["pairs"] = {
        "count": cfg.tracing_pairs,
        "orders_per_turn": orders,
        "total_overhead_by_pair": [round(x, 3) for x in by_pair],
        "total_overhead_median": round(median(by_pair), 3),
    }
    results["spans_exported"] = spans_exported
    return results


async def _started(
    stack: AsyncExitStack,
    cfg: BenchConfig,
    workdir: Path,
    monitor: Monitor,
    tag: str,
    extra: dict[str, str],
) -> System:
    folder = workdir / f"tracing-{tag}"
    folder.mkdir()
    url = await stack.enter_async_context(vhost(f"tracing-{tag}"))
    services = {name: Service(name, url, folder, extra) for name in SERVICES}
    await stack.enter_async_context(running(*services.values()))
    await asyncio.gather(*(s.start().wait_ready(timeout=60) for s in services.values()))
    watched_as = {name: f"{name}-{tag}" for name in SERVICES}
    for name, service in services.items():
        monitor.watch(watched_as[name], service.pid, peak_as=name)
    await seed_stock(services["inventory"].url, cfg.skus)
    system = System(cfg, folder, services, monitor, watched_as=watched_as)
    await system.place("warmup", cfg.warmup_orders, rate=None)
    return system


def _total(turn: dict[str, Any]) -> float:
    return float(sum(turn["cpu_ms_per_order"].values()))


def _pooled(turns: list[dict[str, Any]]) -> dict[str, Any]:
    """CPU per order over all of a system's turns: each turn weighs by its orders."""
    accepted = [turn["orders"] - turn["http_errors"] for turn in turns]
    costs = {
        name: round(
            sum(t["cpu_ms_per_order"][name] * n for t, n in zip(turns, accepted, strict=True))
            / sum(accepted),
            3,
        )
        for name in SERVICES
    }
    costs["total"] = round(sum(costs.values()), 3)
    return {
        "cpu_ms_per_order": costs,
        "orders": sum(accepted),
        "latency_ms_p99_by_turn": [turn["latency_ms"]["p99"] for turn in turns],
        "orders_per_s_by_turn": [turn["orders_per_s"] for turn in turns],
    }
