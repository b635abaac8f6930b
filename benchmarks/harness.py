"""One run: the baselines and the system, measured back to back on the same machine."""

import dataclasses
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import asyncpg
import psutil  # type: ignore[import-untyped]

from benchmarks import databases, report
from benchmarks.backlog import run_backlog
from benchmarks.config import BenchConfig
from benchmarks.drain import run_drain
from benchmarks.e2e import calibrate_loadgen, run_e2e
from benchmarks.floor import running_floor
from benchmarks.footprint import Monitor
from benchmarks.pipeline import run_pipeline
from benchmarks.procs import broker_disruptions
from benchmarks.profiling import PROFILES
from benchmarks.tracing_cost import run_tracing_cost
from tests.support.broker import broker_version
from tests.support.databases import POSTGRES_URL

PACKAGES = (
    *("aio-pika", "aiormq", "fastapi", "uvicorn", "sqlalchemy", "psycopg", "pydantic"),
    *("faststream", "aiohttp", "uvloop", "orjson"),
)


async def run(cfg: BenchConfig) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-work-"))
    # The PostgreSQL pass has a monitor of its own: its services' peaks are not SQLite's.
    started, monitor, pg_monitor = time.monotonic(), Monitor(), Monitor()
    context: dict[str, Any] = {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "smoke": cfg.smoke,
        "machine": machine(),
        "versions": {**versions(), "postgresql": await postgres_version()},
        "config": {k: str(v) for k, v in dataclasses.asdict(cfg).items()},
    }
    sqlite_peaks: dict[str, float] = {}  # over the phases the PostgreSQL pass repeats
    try:
        async with monitor.polling():
            _step("raw aio-pika pipeline", started)
            pipeline = await run_pipeline(cfg, workdir, monitor)
            _step("load generator against a trivial server", started)
            calibration = await calibrate_loadgen(cfg, workdir)
            _step(
                "end to end over HTTP (warm-up, fixed rates with the floor's turns beside "
                "them, saturation)",
                started,
            )
            async with running_floor(cfg, workdir, monitor) as floor_processes:
                with monitor.peaks_into(sqlite_peaks):
                    e2e = await run_e2e(cfg, workdir, monitor, floor=floor_processes)
            floor = e2e.pop("floor")
            for name in [name for name in sqlite_peaks if name.startswith("floor-")]:
                del sqlite_peaks[name]  # compared with PostgreSQL's pass, which has none
            _step("tracing off and on (OTLP export), at the fixed rate", started)
            tracing = await run_tracing_cost(cfg, workdir, monitor)
            _step("consumer drain (raw, FastStream, inventory service)", started)
            with monitor.peaks_into(sqlite_peaks):
                drain = await run_drain(cfg, workdir, monitor)
        async with pg_monitor.polling():
            _step("on PostgreSQL: end to end (warm-up, fixed rates, saturation)", started)
            pg_e2e = await run_e2e(cfg, workdir, pg_monitor, databases.POSTGRESQL)
            _step("on PostgreSQL: inventory service drain", started)
            pg_drain = await run_drain(cfg, workdir, pg_monitor, databases.POSTGRESQL)
    except BaseException:
        print(f"benchmark failed; logs and SQLite databases kept in {workdir}", file=sys.stderr)
        raise
    context["duration_s"] = round(time.monotonic() - started, 1)
    context["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    lost = broker_disruptions(workdir)
    context["broker_disrupted_during_run"] = (
        bool(lost) or monitor.broker_restarted() or pg_monitor.broker_restarted()
    )
    context["profiles"] = PROFILES
    if lost:
        print(f"the broker connection was lost (see {', '.join(lost)} in {workdir})")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    postgresql = {
        "e2e": pg_e2e,
        "drain": pg_drain,
        "peak_rss_mb": pg_monitor.peak_rss_mb,
        "sqlite_peak_rss_mb": sqlite_peaks,
    }
    return report.assemble(
        pipeline, calibration, floor, e2e, drain, tracing, monitor.peak_rss_mb, context, postgresql
    )


async def run_backlog_only(cfg: BenchConfig) -> dict[str, Any]:
    """The backlog run alone (`python -m benchmarks --backlog`)."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-backlog-"))
    started, monitor = time.monotonic(), Monitor()
    results: dict[str, Any] = {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "smoke": cfg.smoke,
        "machine": machine(),
        "versions": versions(),
    }
    try:
        async with monitor.polling():
            _step("backlog: fill, then two inventory replicas on PostgreSQL drain it", started)
            results["backlog"] = await run_backlog(cfg, workdir, monitor)
    except BaseException:
        print(f"benchmark failed; logs kept in {workdir}", file=sys.stderr)
        raise
    results["duration_s"] = round(time.monotonic() - started, 1)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["peak_rss_mb"] = monitor.peak_rss_mb
    shutil.rmtree(workdir, ignore_errors=True)
    return results


def machine() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "sqlite": sqlite3.sqlite_version,
    }


def versions() -> dict[str, str]:
    found = {name: metadata.version(name) for name in PACKAGES}
    found["rabbitmq"] = broker_version()
    return found


async def postgres_version() -> str:
    """The version of the PostgreSQL server the PostgreSQL pass runs on."""
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def _step(what: str, started: float) -> None:
    print(f"[{time.monotonic() - started:6.1f}s] {what}", flush=True)
