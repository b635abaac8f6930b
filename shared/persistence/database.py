"""Databases for SQLite (local default) and PostgreSQL, used from asyncio one transaction
at a time: `await db.run(work)` runs the synchronous function `work(connection)` in one
transaction and returns its result once it has committed. On PostgreSQL, and on SQLite
when it must wait, on a database thread: one hand-off between the event loop and that
thread per transaction, not one per statement, and no greenlets: SQLAlchemy Core on the
synchronous drivers (sqlite3, psycopg 3). A short SQLite write that can start at once runs
on the event loop itself (see `Database.run`).

SQLite is set up for several processes sharing one file: WAL, a busy timeout, and every
write transaction opened with BEGIN IMMEDIATE so that a read-modify-write never races
another writer (a deferred transaction would fail with SQLITE_BUSY when it upgrades, or
worse, decide on a stale read). A process has one writer connection: writers queue for
it in the event loop instead of sleeping in SQLite's busy handler for the file lock, and
only the writer's thread ever sleeps there. Readers have threads and connections of their
own (WAL lets them read while the writer writes) and a plain BEGIN.
"""

import asyncio
import contextvars
import functools
import select
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from sqlalchemy import Connection, Engine, MetaData, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError

T = TypeVar("T")

_READ_ONLY = "readonly"
# Set on a connection while `_InlineWriter` holds a transaction it began on the driver.
_BEGUN_ON_DRIVER = "begun_on_driver"
_BUSY_TIMEOUT_MS = 30_000
_SCHEMA_LOCK = 0x5C4E3A  # any constant shared by every instance of every service


def sync_url(url: str) -> URL:
    """The URL with the synchronous driver this module uses: `sqlite+aiosqlite://` and
    `postgresql+asyncpg://` (what older settings say) are accepted and mapped."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+pysqlite")
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")


class Database:
    def __init__(
        self,
        url: str,
        *,
        sqlite_synchronous: str = "FULL",
        pool_size: int = 4,
        echo: bool = False,
    ) -> None:
        parsed = sync_url(url)
        self.dialect = parsed.get_backend_name()
        self.url = parsed
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            options: dict[str, Any] = {
                "echo": echo,
                "connect_args": {"timeout": 30, "check_same_thread": False},
            }
            # The pool rolls back what is left open when a connection is returned: a COMMIT
            # that fails (SQLITE_BUSY, a deferred constraint) leaves its transaction open,
            # which would otherwise fail the next transaction on this one connection.
            # Writer connections: the one kept for the writer's thread, the one kept for
            # writes on the loop, and one for the schema's migrations.
            self.engine: Engine = create_engine(parsed, pool_size=3, max_overflow=0, **options)
            reader = create_engine(parsed, pool_size=2, max_overflow=0, **options)
            for engine in (self.engine, reader):
                _tune_sqlite(engine, sqlite_synchronous)
            writers, readers = 1, 2
        else:
            self.engine = create_engine(
                parsed,
                echo=echo,
                # One kept by each writer's thread, one for each reader's, and room for
                # a migration's connection beside them.
                pool_size=2 * pool_size,
                max_overflow=2,
                # Text is UTF-8 between us and the server, whatever the database's encoding.
                connect_args={"client_encoding": "utf8"},
            )
            # Instead of `pool_pre_ping` (a query and its answer before every transaction):
            # a connection the server has closed is found without a round trip.
            event.listen(self.engine, "checkout", _replace_if_closed_by_the_server)
            reader = self.engine
            writers = readers = pool_size
        self._reader_engine = reader
        self._reader = reader.execution_options(**{_READ_ONLY: True})
        sqlite = self.dialect == "sqlite"
        self._inline = _InlineWriter(self.engine) if sqlite else None
        # Each writer's thread keeps its connection: SQLite's one, PostgreSQL's several.
        self._kept = _PerThread(self.engine)
        self._threaded = 0  # writes handed to the writer's thread and not yet back
        self._budget = _LoopBudget()
        self._writes = ThreadPoolExecutor(writers, thread_name_prefix="db-write")
        self._reads = ThreadPoolExecutor(readers, thread_name_prefix="db-read")

    async def run(self, work: Callable[[Connection], T], *, short: bool = True) -> T:
        """Run `work` in a write transaction: committed when it returns, rolled back if it
        raises. On SQLite a `short` transaction (the messages' and requests' own: a few
        statements on indexed rows) runs on the event loop itself when the file's write
        lock is free at once and no other write is under way on the writer's thread: no
        hand-off to a thread and back, no pool check-out (measured here: 0.15 instead of
        0.35 ms of CPU for a one-row transaction). The loop is held for the commit's
        fsync (about 0.2 ms on this machine's disk).
        Otherwise, and for long work (pruning, a schema), on the writer's thread, which
        waits for the lock."""
        if short and self._inline is not None and not self._threaded and self._budget.allows():
            started = time.thread_time()
            result = self._inline.attempt(work)
            self._budget.spend(time.thread_time() - started)
            if not isinstance(result, _Locked):
                # Yield once, as an await of the thread did: a consumer working through
                # deliveries in hand must still let a stop, or a request, in between.
                await asyncio.sleep(0)
                return result
        return await self._on_writer(self._write, work)

    async def read(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in a read-only transaction on a reader thread."""
        return await _on(self._reads, self._read, work)

    def _write(self, work: Callable[[Connection], T]) -> T:
        return self._kept.connection().run(work)

    def _read(self, work: Callable[[Connection], T]) -> T:
        with self._reader.connect() as conn, conn.begin():
            return work(conn)

    async def on_connection(self, work: Callable[[Connection], T]) -> T:
        """Run `work` with a connection of the writer's and no transaction begun: for what
        manages its own transactions (the schema's migrations)."""
        return await self._on_writer(self._connected, work)

    async def _on_writer(self, call: Callable[[Any], T], work: Any) -> T:
        self._threaded += 1
        try:
            return await _on(self._writes, call, work)
        finally:
            self._threaded -= 1

    def _connected(self, work: Callable[[Connection], T]) -> T:
        with self.engine.connect() as conn:
            return work(conn)

    async def create_all(self, metadata: MetaData) -> None:
        """Create missing tables, for tables kept without migrations (a sketch, a test's
        own; the services' schemas are made by their migrations, shared.persistence.
        migrations). Instances starting together on one PostgreSQL database take turns
        (an advisory lock): concurrent CREATE TABLEs would collide."""

        def create(conn: Connection) -> None:
            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
            metadata.create_all(conn)

        await self.run(create, short=False)

    async def ping(self) -> None:
        await self.read(lambda conn: conn.execute(text("SELECT 1")).scalar())

    def pool_status(self) -> str:
        return self.engine.pool.status()

    async def dispose(self) -> None:
        def close() -> None:
            self._writes.shutdown(wait=True)
            if self._inline is not None:
                self._inline.close()
            self._kept.close()
            self._reads.shutdown(wait=True)
            self.engine.dispose()
            if self._reader_engine is not self.engine:
                self._reader_engine.dispose()

        await asyncio.to_thread(close)


class _KeptConnection:
    """A connection kept by one writer (the event loop, the writer's thread) for all of its
    transactions: no pool check-out and reset on each (measured here: 0.25 -> 0.15 ms of
    CPU for a one-row write). One left in a transaction by a failed COMMIT is closed and
    never used again; the next transaction opens another."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None

    @property
    def connection(self) -> Connection:
        if self._conn is None:
            self._conn = self._engine.connect()
        return self._conn

    def run(self, work: Callable[[Connection], T]) -> T:
        """`work` in a transaction begun now on this connection."""
        if self._conn is not None and _closed_by_the_server(self._conn):
            self.close()
        conn = self.connection
        try:
            with conn.begin():
                return work(conn)
        except BaseException:
            if conn.invalidated or conn.in_transaction() or _left_open(conn):
                self.close()
            raise

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.invalidate()
            conn.close()


class _PerThread:
    """A kept connection for each thread that asks (the writers' threads)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local = threading.local()
        self._all: list[_KeptConnection] = []

    def connection(self) -> _KeptConnection:
        kept: _KeptConnection | None = getattr(self._local, "kept", None)
        if kept is None:
            kept = self._local.kept = _KeptConnection(self._engine)
            self._all.append(kept)
        return kept

    def close(self) -> None:
        """Close every thread's connection, once those threads are done."""
        for kept in self._all:
            kept.close()


class _InlineWriter(_KeptConnection):
    """SQLite write transactions on the event loop, when they can start at once: BEGIN
    IMMEDIATE with the busy timeout at zero, so that a file another process is writing
    answers "locked" at once instead of blocking the loop; the caller then goes to the
    writer's thread, which waits. Its connection is its own: the loop never writes while
    the thread does (`Database.run` sees to it).

    The busy timeout stays at zero on that connection (set once on each it opens): in WAL
    mode nothing after BEGIN IMMEDIATE waits in SQLite's busy handler (the writer holds
    the write lock; a commit's automatic checkpoint is PASSIVE, which never waits). And
    the transaction is begun and committed on the driver's connection, not through
    SQLAlchemy's transaction object, its events and its dialect's commit: those and the
    two PRAGMAs that set the timeout around each BEGIN came to about a third of what a
    one-row write cost the loop (163-220 -> 111-145 us of CPU with synchronous=NORMAL,
    335-500 -> 224-348 with FULL). Work that executes through SQLAlchemy still may: SQLAlchemy
    then begins a transaction of its own over the one under way (the begin listener sees
    it open and sends nothing), which is committed through SQLAlchemy."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._timed_out: Any = None  # the driver connection whose busy timeout is zero

    def attempt(self, work: Callable[[Connection], T]) -> "T | _Locked":
        conn = self.connection
        driver: Any = conn.connection.driver_connection
        if driver is not self._timed_out:
            driver.execute("PRAGMA busy_timeout=0")
            self._timed_out = driver
        try:
            driver.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            if _locked(error):
                return _LOCKED
            self.close()
            raise OperationalError("BEGIN IMMEDIATE", (), error) from error
        info = conn.info  # kept: a failure may close `conn`, whose `info` then raises
        info[_BEGUN_ON_DRIVER] = True
        try:
            result = work(conn)
            if conn.in_transaction():
                conn.commit()
            else:
                try:
                    driver.commit()
                except sqlite3.Error as error:
                    raise DBAPIError.instance("COMMIT", (), error, sqlite3.Error) from error
        except BaseException:
            self._roll_back(conn, driver)
            raise
        finally:
            info.pop(_BEGUN_ON_DRIVER, None)
        return result

    def _roll_back(self, conn: Connection, driver: sqlite3.Connection) -> None:
        """After a failure: the transaction rolled back, or the connection closed if that
        leaves anything open (a COMMIT that failed may leave its transaction open)."""
        try:
            # SQLAlchemy's own, if the work began one: active, or made inactive by a failure
            # and waiting for its rollback.
            if (transaction := conn.get_transaction()) is not None:
                transaction.rollback()
            if driver.in_transaction:
                driver.rollback()
        except Exception:
            self.close()
            return
        if conn.invalidated or conn.get_transaction() is not None or driver.in_transaction:
            self.close()


class _LoopBudget:
    """How much of the event loop's time writes may take: a tenth on average, with a
    burst of 5 ms, counted in the loop thread's CPU time (not the wall clock, which
    would count waiting for the GIL while the span exporter's thread holds it). A
    service draining a backlog writes big batches back to back; on the loop they would
    leave too little of it to the broker's I/O and the outbox relay (with no budget the
    relay fell behind, 840 outcomes published a second for 1,519 consumed, and the
    service's memory grew by 50 MB), so past the budget they go to the writer's thread,
    where SQLite's own work runs beside the loop. A service at an ordinary rate stays
    well within it (100 orders/s: some 300 writes of 0.15-0.3 ms)."""

    SHARE = 0.10
    BURST = 0.005

    def __init__(self) -> None:
        self._debt = 0.0
        self._at = time.monotonic()

    def allows(self) -> bool:
        now = time.monotonic()
        self._debt = max(0.0, self._debt - (now - self._at) * self.SHARE)
        self._at = now
        return self._debt <= self.BURST

    def spend(self, seconds: float) -> None:
        self._debt += seconds


class _Locked:
    """What `_InlineWriter.attempt` returns when the file is being written by another."""


_LOCKED = _Locked()


async def _on(executor: ThreadPoolExecutor, call: Callable[[Any], T], work: Any) -> T:
    # The caller's context variables travel with the work (as asyncio.to_thread does).
    context = contextvars.copy_context()
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, functools.partial(context.run, call, work))


def _locked(error: BaseException | None) -> bool:
    """SQLite's answer when another connection holds the lock a statement needs."""
    text = str(error)
    return "locked" in text or "busy" in text


def _enable_wal(cursor: Any, *, patience: float = 30.0) -> None:
    """Switch the file to WAL (a lasting property of the file; a no-op once done). On a
    new file that several processes open at once, the switch needs the file to itself
    and SQLite answers "database is locked" at once, without waiting in the busy
    handler (a connection holding a read lock that waits for a write lock could
    deadlock): so wait here, a little at a time."""
    deadline = time.monotonic() + patience
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if not _locked(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _left_open(conn: Connection) -> bool:
    """Whether the driver's connection of `conn` (not invalidated) is still in a
    transaction (a failed COMMIT)."""
    driver: Any = conn.connection.driver_connection
    if isinstance(driver, sqlite3.Connection):
        return driver.in_transaction
    return bool(driver.info.transaction_status != psycopg.pq.TransactionStatus.IDLE)


def _closed_by_the_server(conn: Connection) -> bool:
    """Whether PostgreSQL has closed this idle connection, found without a round trip. A
    server that ends a session (restarted, `pg_terminate_backend`, `idle_session_timeout`)
    sends its reason and closes the socket: an idle connection whose socket has something
    to read has been closed, or sent what nothing here asks for; either way it is not to
    be used. (A SQLite connection is never closed by another.)"""
    if conn.invalidated:
        return True
    driver: Any = conn.connection.driver_connection
    return isinstance(driver, psycopg.Connection) and _server_has_spoken(driver)


def _server_has_spoken(driver: psycopg.Connection[Any]) -> bool:
    if driver.closed or driver.pgconn.status != psycopg.pq.ConnStatus.OK:
        return True
    poll = select.poll()
    poll.register(driver.pgconn.socket, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poll.poll(0))


def _replace_if_closed_by_the_server(driver: Any, _record: Any, _proxy: Any) -> None:
    """A pool's checkout listener: a PostgreSQL connection the server has closed is
    replaced before it is used (SQLAlchemy's documented use of DisconnectionError)."""
    if _server_has_spoken(driver):
        raise DisconnectionError("PostgreSQL has closed the connection")


def _tune_sqlite(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        _enable_wal(cursor)
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Straight on the driver's connection: through `exec_driver_sql` (an execution
        # context, a cursor, a result) the BEGIN cost 35-45 us of CPU more, a third of
        # what a one-row transaction costs on the event loop. Its error is raised as
        # SQLAlchemy raises the driver's (a listener's is not wrapped).
        if conn.info.get(_BEGUN_ON_DRIVER):
            return  # the loop's writer began it on the driver (`_InlineWriter`)
        statement = "BEGIN" if conn.get_execution_options().get(_READ_ONLY) else "BEGIN IMMEDIATE"
        try:
            conn.connection.driver_connection.execute(statement)
        except sqlite3.OperationalError as error:
            raise OperationalError(statement, (), error) from error
