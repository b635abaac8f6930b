"""Trying mutations: apply one to a fresh copy, run its tests, say whether they caught it."""

import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tests.mutation.catalogue import Mutation
from tests.mutation.pytest_run import FAILED, PASSED, PytestRun, run_pytest
from tests.mutation.scratch import fresh_copy

KILLED = "killed"
SURVIVED = "SURVIVED"
STALE = "STALE"  # the text to change is not in its file exactly once
INVALID = "INVALID"  # the change does not compile
ERROR = "ERROR"  # the tests could not run (a test not found, a collection error)
TIMEOUT = "TIMEOUT"

_TIERS = ("tests/unit/", "tests/integration/", "tests/e2e/")


@dataclass(frozen=True)
class Outcome:
    mutation: Mutation
    verdict: str
    seconds: float
    detail: str  # the test that caught it, or what went wrong
    run: PytestRun | None = None

    @property
    def caught(self) -> bool:
        return self.verdict == KILLED


def fastest_first(tests: Iterable[str]) -> list[str]:
    """Unit tests, then integration, then end-to-end (each group in the order given),
    without repeats."""

    def tier(test: str) -> int:
        return next((n for n, prefix in enumerate(_TIERS) if test.startswith(prefix)), 3)

    return sorted(dict.fromkeys(tests), key=tier)


def why_not_applicable(tree: Path, mutation: Mutation) -> str | None:
    """Why `mutation` cannot be applied to `tree` (None if it can)."""
    path = tree / mutation.file
    if not path.is_file():
        return f"{mutation.file} does not exist"
    found = path.read_text().count(mutation.find)
    if found != 1:
        return f"the text to change occurs {found} times in {mutation.file}, not once"
    return None


def apply(tree: Path, mutation: Mutation) -> str | None:
    """Apply `mutation` to `tree`; what is wrong with it if it does not apply or compile."""
    problem = why_not_applicable(tree, mutation)
    if problem is not None:
        return problem
    path = tree / mutation.file
    mutated = path.read_text().replace(mutation.find, mutation.replace)
    path.write_text(mutated)
    if path.suffix == ".py":
        try:
            compile(mutated, str(path), "exec")
        except SyntaxError as exc:
            return f"the mutated {mutation.file} does not compile: {exc}"
    return None


def try_mutation(
    mutation: Mutation, pristine: Path, workdir: Path, *, timeout: float, keep: bool
) -> Outcome:
    started = time.monotonic()
    problem = why_not_applicable(pristine, mutation)
    if problem is not None:
        return Outcome(mutation, STALE, 0.0, problem)
    copy = fresh_copy(pristine, workdir / mutation.id)
    try:
        problem = apply(copy, mutation)
        if problem is not None:
            return Outcome(mutation, INVALID, time.monotonic() - started, problem)
        run = run_pytest(copy, fastest_first(mutation.tests), timeout=timeout)
        return Outcome(mutation, *_verdict(run), run)
    finally:
        if not keep:
            shutil.rmtree(copy, ignore_errors=True)


def _verdict(run: PytestRun) -> tuple[str, float, str]:
    if run.first_failure is not None and run.status in (FAILED, None):
        hung = "" if run.status is not None else " (then hung, and was stopped)"
        return KILLED, run.seconds, run.first_failure + hung
    if run.status is None:
        return TIMEOUT, run.seconds, f"no verdict within {run.seconds:.0f}s"
    if run.status == PASSED:
        return SURVIVED, run.seconds, "every selected test passed"
    return ERROR, run.seconds, f"pytest exit status {run.status}"


def baseline(tests: list[str], pristine: Path, workdir: Path, *, timeout: float) -> PytestRun:
    """The selected tests on the unchanged copy: each must pass, or a kill proves nothing."""
    copy = fresh_copy(pristine, workdir / "baseline")
    try:
        return run_pytest(copy, fastest_first(tests), timeout=timeout)
    finally:
        shutil.rmtree(copy, ignore_errors=True)
