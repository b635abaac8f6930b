"""`python -m benchmarks.compare [--base REF]`: what a change does to the CPU an order
costs, measured as this machine can resolve it: the system at `REF` (a git worktree of it,
run with this checkout's interpreter and packages) and the system as this checkout has it
(committed or not), side by side, taking orders at one rate in turns
(benchmarks.side_by_side). Prints CPU per order per service for each, the change, and
each pair of turns' change of the total: how far to trust it. Compare the code with
itself first (`--base HEAD`, uncommitted changes aside): what that shows is what a
comparison can resolve on the day (on 2026-11-29 the same code came out 7.4% cheaper on
this checkout's side than from the worktree, pairs of turns ranging from -18% to +7%)."""

import argparse
import dataclasses
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.config import BenchConfig
from benchmarks.footprint import Monitor
from benchmarks.side_by_side import Variant, compared, in_turns
from benchmarks.workers import run_async
from tests.support.processes import ROOT


async def measure(cfg: BenchConfig, base: Path, pairs: int, seconds: float) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    monitor = Monitor()
    try:
        async with monitor.polling():
            turns = await in_turns(
                cfg,
                workdir,
                monitor,
                (Variant("base", root=base), Variant("head")),
                pairs=pairs,
                turn_seconds=seconds,
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return compared(turns, "base", "head")


@contextmanager
def worktree(ref: str) -> Iterator[Path]:
    """A detached worktree of `ref` in a temporary folder, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="bench-base-")) / "checkout"
    git = ["git", "-C", str(ROOT), "worktree"]
    subprocess.run([*git, "add", "--quiet", "--detach", str(folder), ref], check=True)
    try:
        yield folder
    finally:
        subprocess.run([*git, "remove", "--force", str(folder)], check=False)
        shutil.rmtree(folder.parent, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__)
    parser.add_argument("--base", default="HEAD", help="the git ref to compare with")
    parser.add_argument("--rate", type=float, default=50.0, help="orders/s")
    parser.add_argument("--pairs", type=int, default=4, help="pairs of turns")
    parser.add_argument("--seconds", type=float, default=15.0, help="of each turn")
    args = parser.parse_args()
    cfg = dataclasses.replace(BenchConfig(), rate=args.rate)
    with worktree(args.base) as base:
        results = run_async(measure(cfg, base, args.pairs, args.seconds))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
