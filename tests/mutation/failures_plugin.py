"""A pytest plugin the gate loads into each of its runs (`-p tests.mutation.failures_plugin`):
it writes each failing test's id to the file named by MUTATION_FAILURES the moment it
fails, so that a run which then hangs (a teardown stuck on the broken code, say) still says
that, and by which test, the change was caught."""

import os

import pytest


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = os.environ.get("MUTATION_FAILURES")
    if path and report.failed:
        with open(path, "a", encoding="utf-8") as failures:
            failures.write(f"{report.nodeid}\t{report.when}\n")
