from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import ACCOUNTS, System

SystemFactory = Callable[..., Awaitable[System]]


@pytest.fixture
async def make_system(
    broker_url: str,
    database_url: Callable[[str], Awaitable[str]],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> AsyncIterator[SystemFactory]:
    systems: list[System] = []

    async def make(inventories: int = 1, **kwargs: Any) -> System:
        urls = {name: await database_url(name) for name in ("order", "inventory", "notification")}
        system = System(broker_url, urls, tmp_path, **kwargs)
        systems.append(system)
        await system.start(inventories=inventories)
        return system

    yield make
    for system in systems:
        report = getattr(request.node, "rep_call", None)
        try:
            await system.stop()
        except AssertionError:
            print(system.logs()[-20000:])
            raise
        if report is not None and report.failed:
            print(system.logs()[-20000:])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if ACCOUNTS:
        terminalreporter.section("fault tests: what became of the orders")
        for line in ACCOUNTS:
            terminalreporter.write_line(line)
