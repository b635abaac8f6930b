"""`python -m benchmarks.rate`: the end-to-end phase at one fixed rate alone, a few rounds,
printing each service's CPU per order: the quick check of a change to a service's hot
path (`make bench` measures everything, in a third of a session). `--py-spy PATH
--profile SERVICE` records that service during the last round and prints where it spends
its CPU."""

import argparse
import dataclasses
import json
import shutil
import tempfile
from pathlib import Path

from benchmarks import databases
from benchmarks.config import BenchConfig
from benchmarks.e2e import SERVICES, running_system
from benchmarks.footprint import Monitor
from benchmarks.profiling import PROFILES, profiled
from benchmarks.workers import run_async


async def measure(cfg: BenchConfig, backend: str, rounds: int, profile: str | None) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-rate-"))
    monitor = Monitor()
    async with (
        monitor.polling(),
        running_system(cfg, workdir, monitor, backend, "rate") as system,
    ):
        await system.place("warmup", cfg.warmup_orders, rate=None)
        for round_ in range(1, rounds + 1):
            spied = cfg.py_spy if profile and round_ == rounds else None
            pid = system.services[profile].pid if profile else 0
            async with profiled(spied, pid, workdir, f"{profile}-rate"):
                result = await system.place(f"rate-{round_}", cfg.rate_orders, rate=cfg.rate)
            print(
                f"round {round_}: cpu ms/order {result['cpu_ms_per_order']}"
                f" server {result.get('cpu_ms_per_order_postgres_server', '-')}"
                f" latency p50/p99 {result['latency_ms']['p50']}/{result['latency_ms']['p99']}",
                flush=True,
            )
    for name, summary in PROFILES.items():
        print(f"\n{name} ({summary['raw']}):")
        print(json.dumps({k: v for k, v in summary.items() if k != "raw"}, indent=1))
    if not PROFILES:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rate", description=__doc__)
    parser.add_argument(
        "--backend", choices=(databases.SQLITE, databases.POSTGRESQL), default=databases.SQLITE
    )
    parser.add_argument("--rate", type=float, default=50.0, help="orders/s")
    parser.add_argument("--seconds", type=float, default=15.0, help="of each round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--py-spy", metavar="PATH", help="a py-spy binary")
    parser.add_argument("--profile", choices=SERVICES, help="the service to record")
    args = parser.parse_args()
    py_spy = shutil.which(args.py_spy) if args.py_spy else None
    if args.profile and py_spy is None:
        parser.error("--profile needs --py-spy PATH")
    cfg = dataclasses.replace(
        BenchConfig(), rate=args.rate, rate_seconds=args.seconds, py_spy=py_spy
    )
    run_async(measure(cfg, args.backend, args.rounds, args.profile))


if __name__ == "__main__":
    main()
