"""`python -m benchmarks.transactions`: what one short write transaction costs the process
that runs it (CPU and wall time per transaction), through `shared.persistence.database`,
on SQLite and on the machine's PostgreSQL: a one-row upsert, from a few concurrent
streams as consumers and requests issue them, written with SQLAlchemy (`text`) and as the
hot paths write theirs (`PlainSql.executemany` of one row). A quick check of a change to
the database layer; `make bench` measures the system. `--streams 1 --pause 2`: one stream
pausing 2 ms after each transaction, as messages come at an ordinary rate, whose short
SQLite writes run on the event loop (back to back they soon go to the writer's thread,
past the loop's budget); the pauses' own CPU, measured first, is not counted."""

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Connection, text

from benchmarks import databases
from shared.persistence.database import Database
from shared.persistence.plain_sql import PlainSql
from tests.support.databases import create_postgres_database, drop_postgres_database

WARMUP = 200
Workload = Callable[[int], Callable[[Connection], None]]


def _upsert(key: int) -> Callable[[Connection], None]:
    def work(conn: Connection) -> None:
        conn.execute(
            text("INSERT INTO kv VALUES (:k, 1) ON CONFLICT (k) DO UPDATE SET v = kv.v + 1"),
            {"k": key % 100},
        )

    return work


def _plain_upsert(key: int) -> Callable[[Connection], None]:
    def work(conn: Connection) -> None:
        PlainSql(conn).executemany(
            "INSERT INTO kv VALUES (?, 1) ON CONFLICT (k) DO UPDATE SET v = kv.v + 1",
            [(key % 100,)],
        )

    return work


WORKLOADS: dict[str, Workload] = {"sqlalchemy": _upsert, "plain-sql": _plain_upsert}


async def measure(
    url: str, transactions: int, streams: int, upsert: Workload, pause: float
) -> dict[str, float]:
    db = Database(url)
    try:
        await db.run(lambda conn: conn.execute(text("CREATE TABLE kv (k INT PRIMARY KEY, v INT)")))
        for i in range(WARMUP):
            await db.run(upsert(i))

        async def stream(first: int, write: bool) -> None:
            for i in range(first, transactions, streams):
                if write:
                    await db.run(upsert(i))
                if pause:
                    await asyncio.sleep(pause)

        pauses_cpu = 0.0
        if pause:
            pauses_cpu = time.process_time()
            await asyncio.gather(*(stream(s, write=False) for s in range(streams)))
            pauses_cpu = time.process_time() - pauses_cpu
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(stream(s, write=True) for s in range(streams)))
        cpu, wall = time.process_time() - cpu - pauses_cpu, time.perf_counter() - wall
    finally:
        await db.dispose()
    return {"cpu_us": 1e6 * cpu / transactions, "wall_us": 1e6 * wall / transactions}


async def main(transactions: int, streams: int, pause: float) -> None:
    for workload, upsert in WORKLOADS.items():
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'kv.db'}"
            sqlite = await measure(url, transactions, streams, upsert, pause)
        postgres_url = await create_postgres_database()
        try:
            postgres = await measure(postgres_url, transactions, streams, upsert, pause)
        finally:
            await drop_postgres_database(postgres_url)
        for name, figures in ((databases.SQLITE, sqlite), (databases.POSTGRESQL, postgres)):
            print(
                f"{name:<10} {workload:<10} {transactions} one-row transactions, "
                f"{streams} streams, {1000 * pause:g} ms pauses: {figures['cpu_us']:.0f} us "
                f"of CPU, {figures['wall_us']:.0f} us of wall time each"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.transactions", description=__doc__)
    parser.add_argument("--transactions", type=int, default=4_000)
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--pause", type=float, default=0.0, help="ms after each transaction")
    args = parser.parse_args()
    asyncio.run(main(args.transactions, args.streams, args.pause / 1000))
