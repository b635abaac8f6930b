"""Two copies of the system side by side, taking orders at one rate in turns: a, b, then
b, a, ... so that neither always runs first and a drift of the machine's speed weighs on
both alike. This machine's speed swings by a quarter from one minute to the next; two
runs one after the other cannot resolve a change of a few percent, turns can. Each copy
has a vhost and databases of its own and may differ from the other by its settings
(tracing exported or not: benchmarks.tracing_cost) or by its code (another checkout:
benchmarks.compare). CPU per order per service for each, pooled over its turns, and
each pair's ratio of the totals as a measure of the noise."""

import asyncio
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

from benchmarks.config import BenchConfig
from benchmarks.e2e import SERVICES, System, seed_stock
from benchmarks.footprint import Monitor
from benchmarks.procs import Service, running, vhost
from tests.support.processes import ROOT


@dataclass(frozen=True)
class Variant:
    tag: str
    settings: Mapping[str, str] = field(default_factory=dict)
    root: Path = ROOT  # the checkout its services run from


async def in_turns(
    cfg: BenchConfig,
    workdir: Path,
    monitor: Monitor,
    variants: tuple[Variant, Variant],
    *,
    pairs: int,
    turn_seconds: float,
    linger: float = 0.0,
) -> dict[str, list[dict[str, Any]]]:
    """Each variant's turns (`System.place`'s results), `pairs` of them, at `cfg.rate`.
    `linger`: seconds each turn waits, once its orders have settled, before its CPU is read."""
    turns: dict[str, list[dict[str, Any]]] = {v.tag: [] for v in variants}
    async with AsyncExitStack() as stack:
        systems = {v.tag: await _started(stack, cfg, workdir, monitor, v) for v in variants}
        orders = max(1, round(cfg.rate * turn_seconds))
        for pair in range(pairs):
            for variant in variants if pair % 2 == 0 else variants[::-1]:
                turns[variant.tag].append(
                    await systems[variant.tag].place(
                        f"{variant.tag}-{pair}", orders, rate=cfg.rate, linger=linger
                    )
                )
        for variant in variants:
            for name in SERVICES:
                monitor.forget(f"{name}-{variant.tag}")
    return turns


def pooled(turns: Sequence[dict[str, Any]]) -> dict[str, Any]:
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


def compared(
    turns: dict[str, list[dict[str, Any]]], before: str, after: str, *, change: str = "change"
) -> dict[str, Any]:
    """`after` against `before`: pooled CPU per order for each, the change per service
    (`cpu_<change>`), and each pair's change of the total (and their median), for the
    noise. `change` names it in the keys ("overhead", for tracing)."""
    results: dict[str, Any] = {tag: pooled(turns[tag]) for tag in (before, after)}
    old, new = results[before]["cpu_ms_per_order"], results[after]["cpu_ms_per_order"]
    results[f"cpu_{change}"] = {name: round(new[name] / old[name] - 1, 3) for name in old}
    by_pair = [
        _total(later) / _total(earlier) - 1
        for earlier, later in zip(turns[before], turns[after], strict=True)
    ]
    results["pairs"] = {
        "count": len(by_pair),
        "orders_per_turn": turns[before][0]["orders"],
        f"total_{change}_by_pair": [round(x, 3) for x in by_pair],
        f"total_{change}_median": round(median(by_pair), 3),
    }
    return results


async def _started(
    stack: AsyncExitStack, cfg: BenchConfig, workdir: Path, monitor: Monitor, variant: Variant
) -> System:
    folder = workdir / f"turns-{variant.tag}"
    folder.mkdir()
    url = await stack.enter_async_context(vhost(f"turns-{variant.tag}"))
    services = {
        name: Service(name, url, folder, dict(variant.settings), root=variant.root)
        for name in SERVICES
    }
    await stack.enter_async_context(running(*services.values()))
    await asyncio.gather(*(s.start().wait_ready(timeout=60) for s in services.values()))
    watched_as = {name: f"{name}-{variant.tag}" for name in SERVICES}
    for name, service in services.items():
        monitor.watch(watched_as[name], service.pid, peak_as=name)
    await seed_stock(services["inventory"].url, cfg.skus)
    system = System(cfg, folder, services, monitor, watched_as=watched_as)
    await system.place("warmup", cfg.warmup_orders, rate=None)
    return system


def _total(turn: dict[str, Any]) -> float:
    return float(sum(turn["cpu_ms_per_order"].values()))
