from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from tests.support import (
    amqp_url,
    create_postgres_database,
    create_vhost,
    delete_vhost,
    drop_postgres_database,
)


@pytest.fixture
def broker_url() -> Iterator[str]:
    """A RabbitMQ vhost of this test's own: the contract's exact names, no interference."""
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
