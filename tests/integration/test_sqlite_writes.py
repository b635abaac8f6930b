"""SQLite write transactions: a short one runs on the event loop when the file is free (no
hand-off to the writer's thread); when another process holds the file's write lock it
waits on the writer's thread, never on the loop, and commits once the lock is released;
a failed one leaves nothing behind for the next."""

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from shared.persistence.database import Database
from shared.persistence.plain_sql import PlainSql


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'writes.db'}")
    await database.run(lambda conn: conn.execute(text("CREATE TABLE t (v TEXT UNIQUE)")))
    yield database
    await database.dispose()


def _insert(value: str) -> Callable[[Connection], int]:
    def work(conn: Connection) -> int:
        conn.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": value})
        return threading.get_ident()

    return work


async def _values(db: Database) -> list[str]:
    return await db.read(lambda conn: [row[0] for row in conn.execute(text("SELECT v FROM t"))])


async def test_a_short_write_runs_on_the_loop_and_a_long_one_on_the_writers_thread(
    db: Database,
) -> None:
    loop_thread = threading.get_ident()
    assert await db.run(_insert("short")) == loop_thread
    assert await db.run(_insert("long"), short=False) != loop_thread
    assert sorted(await _values(db)) == ["long", "short"]


async def test_a_file_another_process_is_writing_is_waited_for_off_the_loop(
    db: Database, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "writes.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t (v) VALUES ('other')")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    write = asyncio.create_task(db.run(_insert("ours")))
    try:
        await asyncio.sleep(0.5)
        assert not write.done()
        # The loop went on while the write waited for the lock: 50 ticks of 10 ms at most.
        assert ticks >= 20, ticks
        other.execute("COMMIT")
        assert await asyncio.wait_for(write, 10) != threading.get_ident()
    finally:
        ticking.cancel()
        other.close()
    assert sorted(await _values(db)) == ["other", "ours"]
    # The file free again, the next short write is back on the loop.
    assert await db.run(_insert("after")) == threading.get_ident()


# The loop and the writer's thread each keep a connection: both must come out clean.
ON_EITHER_WRITER = pytest.mark.parametrize("short", [True, False], ids=["loop", "thread"])


# ... and the work may write through SQLAlchemy or, as the hot paths do, through the
# driver's connection (PlainSql): either way what failed is rolled back.
THROUGH_EITHER = pytest.mark.parametrize("driver", [False, True], ids=["sqlalchemy", "driver"])


def _execute(conn: Connection, sql: str, *, driver: bool) -> None:
    if driver:
        PlainSql(conn).execute(sql)
    else:
        conn.execute(text(sql))


@ON_EITHER_WRITER
@THROUGH_EITHER
async def test_a_failed_write_is_rolled_back_and_the_next_one_commits(
    db: Database, short: bool, driver: bool
) -> None:
    def fails(conn: Connection) -> None:
        _execute(conn, "INSERT INTO t (v) VALUES ('half')", driver=driver)
        _execute(conn, "INSERT INTO t (v) VALUES ('half')", driver=driver)  # the unique constraint

    with pytest.raises(Exception, match="UNIQUE"):
        await db.run(fails, short=short)
    await db.run(_insert("next"), short=short)
    assert await _values(db) == ["next"]


@ON_EITHER_WRITER
@THROUGH_EITHER
async def test_a_commit_that_fails_leaves_no_transaction_open_for_the_next_write(
    db: Database, short: bool, driver: bool
) -> None:
    """A deferred constraint fails at COMMIT, and SQLite leaves that transaction open: the
    connection it happened on must not carry it into the next write. The failure is
    SQLAlchemy's IntegrityError whoever wrote (what the order intake retries on)."""

    def schema(conn: Connection) -> None:
        conn.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
        conn.execute(
            text(
                "CREATE TABLE child (parent INTEGER REFERENCES parent (id)"
                " DEFERRABLE INITIALLY DEFERRED)"
            )
        )

    await db.run(schema)

    def orphan(conn: Connection) -> None:
        _execute(conn, "INSERT INTO t (v) VALUES ('with the orphan')", driver=driver)
        _execute(conn, "INSERT INTO child (parent) VALUES (42)", driver=driver)

    with pytest.raises(IntegrityError, match="FOREIGN KEY"):
        await db.run(orphan, short=short)
    await db.run(_insert("next"), short=short)
    assert await _values(db) == ["next"]
    assert (
        await db.read(lambda conn: conn.execute(text("SELECT count(*) FROM child")).scalar()) == 0
    )


async def test_writes_that_took_more_than_their_share_of_the_loop_go_to_the_thread(
    db: Database,
) -> None:
    """A backlog's big batches must leave the loop to the broker and the outbox relay:
    past a tenth of the loop's time (5 ms of burst), writes go to the writer's thread,
    and come back to the loop once that time has been paid off."""
    loop_thread = threading.get_ident()

    def slow(conn: Connection) -> int:
        busy_until = time.thread_time() + 0.03  # a big batch's transaction: 30 ms of CPU
        while time.thread_time() < busy_until:
            pass
        return _insert("slow")(conn)

    assert await db.run(slow) == loop_thread
    assert await db.run(_insert("next")) != loop_thread
    await asyncio.sleep(0.5)  # 50 ms of loop time paid off at a tenth; 25 were owed
    assert await db.run(_insert("later")) == loop_thread
