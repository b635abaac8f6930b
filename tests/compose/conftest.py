"""One compose stack for the whole compose test run: images prepared, built, started and
healthy before the first test; always taken down (volumes included) after the last. A
failing test's report carries the state and logs of every container."""

import shutil
import tempfile
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.compose.clients import Mailpit, Management
from tests.compose.stack import COMPOSE_FILE, ComposeStack, read_env_file
from tests.compose.watching import Jaeger, Prometheus
from tests.support.containers import prepare_images
from tests.support.processes import ROOT

STACK = pytest.StashKey[ComposeStack]()
LOGS_SHOWN = pytest.StashKey[bool]()


@pytest.fixture(scope="session")
def docker_engine() -> float:
    """A Docker engine, docker-compose and every base image the compose file names, those
    it takes from .env.example (RABBITMQ_IMAGE, ...) included (local stand-ins where no
    registry is reachable). Returns the seconds that took."""
    started = time.monotonic()
    example = read_env_file(ROOT / ".env.example")
    versions = [value for name, value in example.items() if name.endswith("_IMAGE") and value]
    prepare_images(versions, COMPOSE_FILE)
    return time.monotonic() - started


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest, docker_engine: float) -> Iterator[ComposeStack]:
    workdir = Path(tempfile.mkdtemp(prefix="compose-test-"))
    stack = ComposeStack(workdir)
    request.config.stash[STACK] = stack
    stack.timings["engine and base images (docker-up, offline-images)"] = docker_engine
    started = time.monotonic()
    try:
        try:
            stack.timed("build", "build", timeout=480)
            stack.timed("up -d", "up", "-d", timeout=300)
            stack.wait_healthy({}, timeout=180)
            stack.timings["build, up and healthy"] = time.monotonic() - started
        except BaseException:
            stack.saved_logs = stack.logs()  # now: the containers are about to go
            raise
        yield stack
    finally:
        stack.down()
        shutil.rmtree(workdir, ignore_errors=True)
        stack.timings["stack from build to down"] = time.monotonic() - started


def local(stack: ComposeStack, port_variable: str) -> str:
    return f"http://127.0.0.1:{stack.settings[port_variable]}"


@pytest.fixture(scope="module")
def orders(stack: ComposeStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=local(stack, "ORDER_PORT"), timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def management(stack: ComposeStack) -> Iterator[Management]:
    """The management API, as the operator (the only broker user allowed to use it)."""
    url = local(stack, "RABBITMQ_MANAGEMENT_PORT")
    api = Management(url, "operator", stack.settings["RABBITMQ_OPERATOR_PASSWORD"])
    yield api
    api.close()


@pytest.fixture(scope="module")
def mailpit(stack: ComposeStack) -> Iterator[Mailpit]:
    api = Mailpit(local(stack, "MAILPIT_PORT"))
    yield api
    api.close()


@pytest.fixture(scope="module")
def prometheus(stack: ComposeStack) -> Iterator[Prometheus]:
    api = Prometheus(local(stack, "PROMETHEUS_PORT"))
    yield api
    api.close()


@pytest.fixture(scope="module")
def jaeger(stack: ComposeStack) -> Iterator[Jaeger]:
    api = Jaeger(local(stack, "JAEGER_UI_PORT"))
    yield api
    api.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    stack = item.config.stash.get(STACK, None)
    if report.failed and stack is not None:
        if item.config.stash.get(LOGS_SHOWN, False):
            report.sections.append(("containers", "(logs shown with the first failure)"))
        else:
            item.config.stash[LOGS_SHOWN] = True
            report.sections.append(("containers and their logs", stack.diagnostics()))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    stack = terminalreporter.config.stash.get(STACK, None)
    if stack is None:
        return
    terminalreporter.section(f"compose stack {stack.project}")
    for step, seconds in stack.timings.items():
        terminalreporter.write_line(f"{step}: {seconds:.1f}s")
    for line in stack.journal:
        terminalreporter.write_line(line)
