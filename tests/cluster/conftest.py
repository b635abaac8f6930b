"""One cluster stack for the run: images prepared and built, the profile started and its
services healthy before the test; always taken down (volumes included) after it. A failing
test's report carries every container's state and logs; the figures are printed at the end."""

import shutil
import tempfile
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.cluster.stack import CLUSTER_FILE, SERVICES, ClusterStack
from tests.compose.stack import COMPOSE_FILE, container_tools, run
from tests.support.polling import eventually_blocking

STACK = pytest.StashKey[ClusterStack]()


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Iterator[ClusterStack]:
    tools = container_tools()
    workdir = Path(tempfile.mkdtemp(prefix="cluster-test-"))
    stack = ClusterStack(workdir)
    request.config.stash[STACK] = stack
    started = time.monotonic()
    try:
        run([str(tools / "docker-up")], timeout=300)
        run([str(tools / "offline-images"), str(COMPOSE_FILE), str(CLUSTER_FILE)], timeout=600)
        stack.timings["engine and base images"] = time.monotonic() - started
        try:
            stack.timed("build", "build", *SERVICES, timeout=480)
            stack.timed("up -d", "up", "-d", *SERVICES, timeout=420)
            eventually_blocking(
                stack.containers,
                lambda found: (
                    {c["service"] for c in found if c["health"] == "healthy"} >= set(SERVICES)
                ),
                timeout=300,
                interval=2,
                what="the cluster profile's services healthy",
            )
            stack.timings["build, up and healthy"] = time.monotonic() - started
        except BaseException:
            stack.saved_logs = stack.logs()
            raise
        yield stack
    finally:
        stack.down()
        shutil.rmtree(workdir, ignore_errors=True)
        stack.timings["cluster stack from start to down"] = time.monotonic() - started


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    stack = item.config.stash.get(STACK, None)
    if report.failed and stack is not None:
        report.sections.append(("containers and their logs", stack.diagnostics()[-200_000:]))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    stack = terminalreporter.config.stash.get(STACK, None)
    if stack is None:
        return
    terminalreporter.section(f"cluster stack {stack.project}")
    for step, seconds in stack.timings.items():
        terminalreporter.write_line(f"{step}: {seconds:.1f}s")
    for line in stack.journal:
        terminalreporter.write_line(line)
