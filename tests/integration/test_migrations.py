"""Each service's schema comes from its migrations (SQLite and PostgreSQL): what they build
is what the code declares (autogenerate finds no difference); a service builds an empty
database by itself, two instances at once included; it refuses a schema that is behind and
says what to run; `python -m shared.process.migrate` brings it up, and adopts a database
made before there were migrations."""

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection, inspect, text

from shared.persistence.database import Database
from shared.persistence.migrations import Migrations, SchemaBehind
from shared.process.migrate import SERVICES, migrations_of
from shared.process.serve import EXIT_SCHEMA_BEHIND
from tests.support.polling import eventually
from tests.support.processes import ChildProcess, free_port

DatabaseUrl = Callable[[str], Awaitable[str]]
UNREACHABLE_BROKER = "amqp://guest:guest@127.0.0.1:1/"


@pytest.mark.parametrize("service", SERVICES)
async def test_the_migrations_build_exactly_the_tables_the_code_declares(
    service: str, database_url: DatabaseUrl
) -> None:
    migrations = migrations_of(service)
    db = Database(await database_url(service))
    try:
        state = await db.on_connection(migrations.prepare)
        assert state.kind == "current", state.describe()
        assert await db.on_connection(migrations.differences) == []
    finally:
        await db.dispose()


async def test_the_agreement_check_sees_a_schema_that_is_not_the_codes(
    database_url: DatabaseUrl,
) -> None:
    """The check above has teeth: at the baseline, the order table lacks its currency (and
    on PostgreSQL the pruning indexes are missing)."""
    migrations = migrations_of("order")
    db = Database(await database_url("order"))
    try:
        await db.on_connection(lambda conn: migrations.upgrade(conn, migrations.base))
        found = str(await db.on_connection(migrations.differences))
        assert "currency" in found
        if db.dialect == "postgresql":
            assert "ix_inbox_received_at" in found and "ix_outbox_published_at" in found
    finally:
        await db.dispose()


async def test_instances_starting_together_on_an_empty_database_build_it_once(
    database_url: DatabaseUrl,
) -> None:
    migrations = migrations_of("inventory")
    url = await database_url("inventory")
    dbs = [Database(url) for _ in range(3)]
    try:
        states = await asyncio.gather(*(db.on_connection(migrations.prepare) for db in dbs))
        assert {s.kind for s in states} == {"current"}
        assert await dbs[0].on_connection(migrations.differences) == []
    finally:
        for db in dbs:
            await db.dispose()


async def test_a_new_sqlite_file_another_process_is_writing_is_waited_for(
    tmp_path: Path,
) -> None:
    """What made the test above fail now and then on SQLite: the first connection switches
    a new file to WAL, which needs the file to itself, and SQLite refuses at once ("database
    is locked", the busy timeout not applying) while another process holds a write lock.
    Here that other process is a plain sqlite3 connection in the middle of a write,
    committing half a second later: the service's connection waits for it."""
    path = tmp_path / "inventory.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE written_by_another_process (x INTEGER)")
    loop = asyncio.get_running_loop()
    release = loop.call_later(0.5, lambda: other.execute("COMMIT"))
    db = Database(f"sqlite:///{path}")
    try:
        await db.ping()
        assert loop.time() >= release.when()
        mode = await db.read(lambda conn: conn.execute(text("PRAGMA journal_mode")).scalar())
        assert mode == "wal"
    finally:
        release.cancel()
        await db.dispose()
        other.close()


async def test_a_service_refuses_a_schema_that_is_behind_and_migrate_brings_it_up(
    database_url: DatabaseUrl, tmp_path: Path
) -> None:
    migrations = migrations_of("order")
    url = await database_url("order")
    db = Database(url)
    try:
        await db.on_connection(lambda conn: migrations.upgrade(conn, migrations.base))
        with pytest.raises(SchemaBehind, match="make migrate"):
            await db.on_connection(migrations.prepare)
    finally:
        await db.dispose()

    settings = {"DATABASE_URL": url, "AMQP_URL": UNREACHABLE_BROKER, "HTTP_PORT": "0"}
    service = ChildProcess("order", "order_service", tmp_path / "order.log", settings).start()
    await eventually(lambda: service.running, lambda running: not running, timeout=30)
    assert service.process is not None
    assert service.process.returncode == EXIT_SCHEMA_BEHIND, service.log()
    (line,) = [line for line in service.log().splitlines() if "make migrate" in line]
    print(line)
    assert "order database: behind (at 0001; this code's head is" in line
    assert "Traceback" not in service.log()

    migrate = ChildProcess(
        "migrate",
        "shared.process.migrate",
        tmp_path / "migrate.log",
        {"DATABASE_URL": url},
        args=["order"],
    ).start()
    assert await asyncio.to_thread(migrate.reap, 60) == 0, migrate.log()
    assert f"current (at {migrations.head}" in migrate.log()

    port = free_port()
    settings |= {"HTTP_PORT": str(port)}
    service = ChildProcess("order", "order_service", tmp_path / "order2.log", settings).start()
    try:
        await eventually(
            lambda: "order service started" in service.log(),
            bool,
            timeout=30,
            what="the order service started on the migrated database",
        )
    finally:
        await asyncio.to_thread(service.stop)


@pytest.mark.parametrize("made", ["before OrderPlaced v2", "after OrderPlaced v2"])
async def test_a_database_made_before_migrations_is_adopted_by_migrate(
    made: str, database_url: DatabaseUrl
) -> None:
    """As a compose volume from before migrations: tables made by create_all, no revision
    recorded; the order table without its currency (made before v2) or with it (after v2,
    which added it without a migration)."""
    order = migrations_of("order")
    db = Database(await database_url("order"))
    try:
        if made == "before OrderPlaced v2":  # the baseline is that schema
            await db.on_connection(lambda conn: order.upgrade(conn, order.base))
            await db.run(lambda conn: conn.execute(text("DROP TABLE alembic_version")))
        else:
            await db.create_all(order.metadata)
        with pytest.raises(SchemaBehind, match="unversioned"):
            await db.on_connection(order.prepare)
        before, after = await db.on_connection(order.migrate)
        assert (before.kind, after.kind) == ("unversioned", "current")
        assert await db.on_connection(order.differences) == []
        assert "currency" in await db.read(lambda conn: columns_of(conn, "orders"))
    finally:
        await db.dispose()


async def test_a_schema_newer_than_the_code_is_accepted(database_url: DatabaseUrl) -> None:
    """A later release migrated it (expand only while older code runs): the code before it
    starts on it, as a rolling upgrade needs."""
    migrations: Migrations = migrations_of("notification")
    db = Database(await database_url("notification"))
    try:
        await db.on_connection(migrations.prepare)
        await db.run(lambda c: c.execute(text("UPDATE alembic_version SET version_num = '9999'")))
        state = await db.on_connection(migrations.prepare)
        assert state.kind == "ahead"
    finally:
        await db.dispose()


def columns_of(conn: Connection, table: str) -> set[str]:
    return {column["name"] for column in inspect(conn).get_columns(table)}
