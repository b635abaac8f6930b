"""`python -m benchmarks`: run everything, print the table, write results/latest.json and
results/latest.png. `--smoke` runs the same harness at tiny sizes into a temporary folder.
`--backlog` runs only the backlog run (benchmarks/backlog.py: a million queued, drained by
two inventory replicas on PostgreSQL, with pruning; about ten minutes) into
results/backlog.json."""

import argparse
import dataclasses
import shutil
import tempfile
from pathlib import Path

from benchmarks import harness, report
from benchmarks.config import RESULTS_DIR, BenchConfig
from benchmarks.workers import run_async


def parse_config() -> BenchConfig:
    defaults = BenchConfig()
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, temporary output")
    parser.add_argument("--output", type=Path, help=f"results folder (default {RESULTS_DIR})")
    parser.add_argument("--concurrency", type=int, default=defaults.concurrency)
    parser.add_argument("--rate", type=float, default=defaults.rate, help="orders/s, open loop")
    parser.add_argument("--rate-seconds", type=float, default=defaults.rate_seconds)
    parser.add_argument("--orders", type=int, default=defaults.saturation_orders)
    parser.add_argument("--drain-messages", type=int, default=defaults.drain_messages)
    parser.add_argument("--pipeline-events", type=int, default=defaults.pipeline_events)
    parser.add_argument(
        "--backlog",
        action="store_true",
        help="only the backlog run (long): results/backlog.json",
    )
    parser.add_argument("--backlog-messages", type=int, default=defaults.backlog_messages)
    parser.add_argument("--backlog-fill-seconds", type=float, default=defaults.backlog_fill_seconds)
    parser.add_argument("--backlog-retention", type=float, default=defaults.backlog_retention)
    parser.add_argument(
        "--py-spy",
        metavar="PATH",
        help="profile the order service at saturation and the inventory service while it "
        "drains with this py-spy binary (perturbs the numbers a little)",
    )
    args = parser.parse_args()
    cfg = BenchConfig(
        concurrency=args.concurrency,
        rate=args.rate,
        rate_seconds=args.rate_seconds,
        saturation_orders=args.orders,
        drain_messages=args.drain_messages,
        pipeline_events=args.pipeline_events,
        backlog_messages=args.backlog_messages,
        backlog_fill_seconds=args.backlog_fill_seconds,
        backlog_retention=args.backlog_retention,
        py_spy=shutil.which(args.py_spy) if args.py_spy else None,
    )
    if args.smoke:
        cfg = cfg.scaled_for_smoke()
    if args.output is not None:
        output = args.output
    elif args.smoke:
        output = Path(tempfile.mkdtemp(prefix="bench-smoke-"))
    else:
        output = RESULTS_DIR
    output.mkdir(parents=True, exist_ok=True)
    return dataclasses.replace(cfg, output_dir=output, backlog=args.backlog)


def main() -> None:
    cfg = parse_config()
    if cfg.backlog:
        results = run_async(harness.run_backlog_only(cfg))
        json_path = cfg.output_dir / "backlog.json"
        report.write_json(results, json_path)
        print()
        print(report.backlog_table(results["backlog"]))
        print(f"\nwrote {json_path} ({results['duration_s']:.0f}s)")
        return
    results = run_async(harness.run(cfg))
    json_path, chart_path = cfg.output_dir / "latest.json", cfg.output_dir / "latest.png"
    report.write_json(results, json_path)
    report.write_chart(results, chart_path)
    print()
    print(report.table(results))
    print(f"\nwrote {json_path} and {chart_path} ({results['duration_s']:.0f}s)")


if __name__ == "__main__":
    main()
