"""PlainSql, the hot paths' statements on the driver connection, on SQLite and PostgreSQL:
`executemany` writes what it is given however many rows (on PostgreSQL one row takes a
plain execute, more take psycopg's pipelined executemany), inside the transaction of the
unit of work: a constraint it breaks fails and rolls back the whole transaction."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError as SqlAlchemyIntegrityError

from shared.persistence.database import Database
from shared.persistence.plain_sql import PlainSql
from tests.support.databases import create_postgres_database, drop_postgres_database

INSERT = "INSERT INTO t (k, v) VALUES (?, ?)"


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    url = (
        await create_postgres_database()
        if request.param == "postgresql"
        else f"sqlite:///{tmp_path / 'plain.db'}"
    )
    database = Database(url)
    try:
        await database.run(
            lambda conn: conn.execute(text("CREATE TABLE t (k INT PRIMARY KEY, v TEXT)"))
        )
        yield database
    finally:
        await database.dispose()
        if request.param == "postgresql":
            await drop_postgres_database(url)


async def _rows(db: Database) -> list[tuple[int, str]]:
    return await db.read(lambda conn: PlainSql(conn).rows("SELECT k, v FROM t ORDER BY k"))


@pytest.mark.parametrize("count", [0, 1, 2, 50])
async def test_executemany_writes_every_row_it_is_given(db: Database, count: int) -> None:
    wanted = [(k, f"value {k}") for k in range(count)]
    await db.run(lambda conn: PlainSql(conn).executemany(INSERT, iter(wanted)))
    assert [tuple(row) for row in await _rows(db)] == wanted


@pytest.mark.parametrize("count", [1, 3])
async def test_a_broken_constraint_rolls_back_the_whole_transaction(
    db: Database, count: int
) -> None:
    await db.run(lambda conn: PlainSql(conn).executemany(INSERT, [(0, "kept")]))

    def work(conn: Connection) -> None:
        sql = PlainSql(conn)
        sql.executemany(INSERT, [(100, "rolled back")])  # written first, in the same transaction
        sql.executemany(INSERT, [(0, "duplicate"), *[(k, "more") for k in range(1, count)]])

    with pytest.raises(Exception) as raised:
        await db.run(work)
    # The driver's own error (sqlite3 or psycopg), as the hot paths see it.
    assert "unique" in str(raised.value).lower() or "duplicate" in str(raised.value).lower()
    assert not isinstance(raised.value, SqlAlchemyIntegrityError)
    assert [tuple(row) for row in await _rows(db)] == [(0, "kept")]
    # The connection is usable afterwards.
    await db.run(lambda conn: PlainSql(conn).executemany(INSERT, [(1, "after")]))
    assert [tuple(row) for row in await _rows(db)] == [(0, "kept"), (1, "after")]
