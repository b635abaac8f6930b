from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from audit_service.config import AuditSettings
from inventory_service.config import InventorySettings
from notification_service.config import NotificationSettings
from order_service.config import OrderSettings
from tests.support import keys
from tests.support.broker import amqp_url, broker_lock, create_vhost, delete_vhost
from tests.support.broker_control import broker_under_test
from tests.support.databases import create_postgres_database, drop_postgres_database
from tests.support.flow import Flow


def pytest_report_header() -> str:
    """Which broker the tests use, and how they reach it besides AMQP."""
    try:
        broker = broker_under_test()
    except Exception as exc:  # a header must not hide the tests' own failures
        return f"broker: {exc}"
    address = urlsplit(broker.amqp_url).netloc.rpartition("@")[2]
    return f"broker: {address}; {broker.described}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A test that fails with the four services running (a `Flow`) reports their logs:
    the failure of a test body is not raised inside its fixtures, which could print them."""
    report = yield
    if report.when == "call" and report.failed:
        for name, value in getattr(item, "funcargs", {}).items():
            if isinstance(value, Flow):
                report.sections.append((f"service logs ({name})", value.logs()[-30000:]))
    return report


@pytest.fixture(autouse=True)
def no_service_settings_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """A service a test starts in its own process reads the environment as well: none of
    the caller's settings (ADMIN_TOKEN, SMTP_HOST, PREFETCH_COUNT, ...) may reach it. (A
    service process gets a clean environment from tests.support.processes.)"""
    for settings in (OrderSettings, InventorySettings, NotificationSettings, AuditSettings):
        for name in settings.model_fields:
            monkeypatch.delenv(name.upper(), raising=False)
            monkeypatch.delenv(name, raising=False)
    # ...but the test run's event keys, so that services started in this process sign and
    # trust like the ones in child processes (tests.support.keys).
    for name, value in keys.settings().items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def broker_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A RabbitMQ vhost of this test's own: the contract's exact names, no interference.
    A test marked `stops_broker` stops the whole node: it has the broker to itself (no test
    of another run on this machine runs beside it; tests.support.broker.broker_lock)."""
    exclusive = request.node.get_closest_marker("stops_broker") is not None
    with broker_lock(exclusive=exclusive):
        name = create_vhost()
        try:
            yield amqp_url(name)
        finally:
            delete_vhost(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def database_url(
    db_kind: str, tmp_path: Path
) -> AsyncIterator[Callable[[str], Awaitable[str]]]:
    """A factory of fresh database URLs (one per service), of the kind under test."""
    created: list[str] = []

    async def make(service: str) -> str:
        if db_kind == "sqlite":
            return f"sqlite:///{tmp_path / f'{service}.db'}"
        url = await create_postgres_database()
        created.append(url)
        return url

    yield make
    for url in created:
        await drop_postgres_database(url)
