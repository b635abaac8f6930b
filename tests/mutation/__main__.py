"""`python -m tests.mutation [--quick] [--only ID,...] [--list]` (`--help` for the rest): exit
status 0 when every mutation was caught; 1 when one survived, was stale, or its tests could
not run; 2 when the tests fail on the unchanged code (then no kill would prove anything)."""

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from tests.mutation.catalogue import CATALOGUE, Mutation, by_id
from tests.mutation.gate import Outcome, baseline, fastest_first, try_mutation
from tests.mutation.scratch import check_runs_its_own_code, snapshot

CHECKOUT = Path(__file__).resolve().parents[2]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.mutation", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the reduced catalogue (for CI)")
    parser.add_argument("--only", help="comma-separated mutation ids")
    parser.add_argument(
        "--tests",
        help="comma-separated tests to run instead of each mutation's own (to check "
        "that one test alone catches a mutation)",
    )
    parser.add_argument("--list", action="store_true", help="print the catalogue and exit")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copies")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip running the tests on unchanged code"
    )
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds for one mutation's tests"
    )
    return parser


def _selected(args: argparse.Namespace) -> list[Mutation]:
    if args.only:
        chosen = by_id([i.strip() for i in args.only.split(",") if i.strip()])
    else:
        chosen = [m for m in CATALOGUE if m.quick or not args.quick]
    if args.tests:
        tests = tuple(t.strip() for t in args.tests.split(",") if t.strip())
        chosen = [replace(m, tests=tests) for m in chosen]
    return chosen


def _print_catalogue(mutations: list[Mutation]) -> None:
    for m in mutations:
        print(f"{m.id}{'  (quick)' if m.quick else ''}\n  breaks: {m.guarantee}\n  in {m.file}")
        for test in fastest_first(m.tests):
            print(f"  caught by {test}")


def _table(outcomes: list[Outcome]) -> str:
    width = max(len(o.mutation.id) for o in outcomes)
    lines = [f"{'mutation':<{width}}  {'verdict':<8}  {'secs':>5}  caught by / why not"]
    lines += [
        f"{o.mutation.id:<{width}}  {o.verdict:<8}  {o.seconds:5.1f}  {o.detail}" for o in outcomes
    ]
    return "\n".join(lines)


def _explain(outcome: Outcome) -> str:
    m = outcome.mutation
    text = [
        f"--- {m.id}: {outcome.verdict}",
        f"breaks: {m.guarantee}",
        f"change in {m.file}:",
        *(f"  - {line}" for line in m.find.splitlines()),
        *(f"  + {line}" for line in m.replace.splitlines()),
        f"tests: {' '.join(fastest_first(m.tests))}",
    ]
    if outcome.run is not None and not outcome.caught:
        text.append(outcome.run.tail())
    return "\n".join(text)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    mutations = _selected(args)
    if not mutations:
        print("no mutation selected")
        return 1
    if args.list:
        _print_catalogue(mutations)
        return 0
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="mutation-gate-"))
    try:
        pristine = workdir / "pristine"
        files = snapshot(CHECKOUT, pristine)
        check_runs_its_own_code(pristine)
        print(f"{len(mutations)} mutation(s) of a snapshot of {files} files in {workdir}")
        if not args.no_baseline:
            tests = [t for m in mutations for t in m.tests]
            run = baseline(tests, pristine, workdir, timeout=3 * args.timeout)
            print(f"baseline: {len(fastest_first(tests))} selection(s) in {run.seconds:.0f}s")
            if run.status != 0:
                print(f"the tests fail on the unchanged code:\n{run.tail(60)}")
                return 2
        outcomes = []
        for mutation in mutations:
            outcome = try_mutation(
                mutation, pristine, workdir, timeout=args.timeout, keep=args.keep
            )
            outcomes.append(outcome)
            print(f"  {outcome.verdict:<8} {mutation.id} ({outcome.seconds:.1f}s)", flush=True)
            if outcome.run is not None and outcome.run.leftovers:
                print(f"  note: {mutation.id}'s tests left processes behind; they were ended")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(_table(outcomes))
    missed = [o for o in outcomes if not o.caught]
    for outcome in missed:
        print()
        print(_explain(outcome))
    elapsed = time.monotonic() - started
    print(
        f"\n{len(outcomes) - len(missed)} of {len(outcomes)} caught in {elapsed:.0f}s"
        + (f"; not caught: {', '.join(o.mutation.id for o in missed)}" if missed else "")
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
