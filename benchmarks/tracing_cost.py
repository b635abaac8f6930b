"""What tracing costs: the system at the fixed rate with its spans exported over OTLP (to a
receiver in this process, as they would go to Jaeger or a collector) and without, back to
back in one run; CPU per order per service for each, and the ratio."""

import asyncio
from pathlib import Path
from typing import Any

from benchmarks.config import BenchConfig
from benchmarks.e2e import SERVICES, System, seed_stock
from benchmarks.footprint import Monitor
from benchmarks.procs import Service, running, vhost
from tests.support.otlp import otlp_receiver


async def run_tracing_cost(cfg: BenchConfig, workdir: Path, monitor: Monitor) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with otlp_receiver() as (endpoint, receiver):
        for tag, extra in (
            ("off", {}),
            ("on", {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "1000"}),
        ):
            folder = workdir / f"tracing-{tag}"
            folder.mkdir()
            async with vhost(f"tracing-{tag}") as url:
                services = {name: Service(name, url, folder, extra) for name in SERVICES}
                async with running(*services.values()):
                    await asyncio.gather(
                        *(s.start().wait_ready(timeout=60) for s in services.values())
                    )
                    for name, service in services.items():
                        monitor.watch(name, service.pid)
                    await seed_stock(services["inventory"].url, cfg.skus)
                    system = System(cfg, folder, services, monitor)
                    await system.place("warmup", cfg.warmup_orders, rate=None)
                    at_rate = await system.place(f"tracing-{tag}", cfg.rate_orders, rate=cfg.rate)
                    for name in SERVICES:
                        monitor.forget(name)
            costs = dict(at_rate["cpu_ms_per_order"])
            costs["total"] = round(sum(costs.values()), 3)
            results[tag] = {
                "cpu_ms_per_order": costs,
                "latency_ms": at_rate["latency_ms"],
                "orders_per_s": at_rate["orders_per_s"],
            }
        results["spans_exported"] = len(receiver.snapshot())
    off, on = results["off"]["cpu_ms_per_order"], results["on"]["cpu_ms_per_order"]
    results["cpu_overhead"] = {name: round(on[name] / off[name] - 1, 3) for name in off}
    return results
