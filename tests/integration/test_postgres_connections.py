"""PostgreSQL connections: each writer's thread keeps one for all of its transactions (no
pool check-out, no ping before each), and one the server has closed is replaced before a
transaction is begun on it, so that a restarted server, or sessions ended by an operator,
fail nothing; one lost in the middle of a transaction fails only that transaction."""

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from shared.persistence.database import Database
from tests.support.databases import (
    POSTGRES_URL,
    create_postgres_database,
    drop_postgres_database,
)

WRITERS = 4  # Database's default pool_size: the writers' threads


@pytest.fixture
async def db() -> AsyncIterator[Database]:
    url = await create_postgres_database()
    database = Database(url, pool_size=WRITERS)
    try:
        await database.run(lambda conn: conn.execute(text("CREATE TABLE t (v INT PRIMARY KEY)")))
        yield database
    finally:
        await database.dispose()
        await drop_postgres_database(url)


def _insert(value: int, hold: float = 0.0) -> Callable[[Connection], int]:
    """Insert `value`; answer the server process that did it. `hold` keeps the thread
    busy, so that writes at once are spread over every writer's thread."""

    def work(conn: Connection) -> int:
        conn.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": value})
        time.sleep(hold)
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())

    return work


async def _write_at_once(db: Database, values: range) -> set[int]:
    return set(await asyncio.gather(*(db.run(_insert(v, hold=0.05)) for v in values)))


async def _count(db: Database) -> int:
    return int(await db.read(lambda conn: conn.execute(text("SELECT count(*) FROM t")).scalar()))


async def _terminate(backends: set[int]) -> None:
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        ended = await admin.fetchval(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE pid = ANY($1::int[])) AS t",
            list(backends),
        )
    finally:
        await admin.close()
    assert ended == len(backends)


async def test_each_writers_thread_keeps_its_connection_for_every_transaction(
    db: Database,
) -> None:
    first = await _write_at_once(db, range(0, 8))
    again = await _write_at_once(db, range(8, 16))
    assert len(first) == WRITERS
    assert again == first


async def test_connections_the_server_closed_are_replaced_and_no_transaction_fails(
    db: Database,
) -> None:
    before = await _write_at_once(db, range(0, 8))
    assert await _count(db) == 8  # a reader's connection, pooled, to be closed too
    readers = await db.read(lambda conn: conn.execute(text("SELECT pg_backend_pid()")).scalar())
    await _terminate(before | {readers})
    await asyncio.sleep(0.2)  # the server's goodbye reaches every socket

    after = await _write_at_once(db, range(8, 16))

    assert len(after) == WRITERS
    assert not after & before
    assert await _count(db) == 16


async def test_a_connection_lost_in_a_transaction_fails_only_that_transaction(
    db: Database,
) -> None:
    def lost(conn: Connection) -> None:
        conn.execute(text("INSERT INTO t (v) VALUES (1)"))
        conn.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

    with pytest.raises(DBAPIError):
        await db.run(lost)

    # Every writer's thread, the one that lost its connection among them, writes again.
    await _write_at_once(db, range(10, 18))
    assert await _count(db) == 8


async def test_a_commit_that_fails_leaves_no_transaction_open_for_the_next_write(
    db: Database,
) -> None:
    await db.run(
        lambda conn: conn.execute(
            text(
                "CREATE TABLE d (v INT UNIQUE DEFERRABLE INITIALLY DEFERRED);"
                " INSERT INTO d VALUES (1)"
            )
        )
    )

    def duplicate_at_commit(conn: Connection) -> None:
        conn.execute(text("INSERT INTO d VALUES (1)"))  # refused only by the COMMIT

    with pytest.raises(DBAPIError):
        await db.run(duplicate_at_commit)
    await _write_at_once(db, range(0, 8))
    assert await _count(db) == 8
