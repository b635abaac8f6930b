"""Test support: a broker vhost and databases of their own for every test, services run
as real processes, and polling with a deadline instead of sleeping."""

import asyncio
import inspect
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import aio_pika
import asyncpg
import httpx
from fastapi import FastAPI

from shared.persistence.database import Database
from shared.process.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent
AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

T = TypeVar("T")


def rabbitmqctl(*args: str) -> str:
    """Run rabbitmqctl against the test broker. A missing broker fails loudly."""
    result = subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {result.stderr or result.stdout}")
    return result.stdout


def amqp_url(vhost: str) -> str:
    parts = urlsplit(AMQP_URL)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(vhost, safe=""), "", ""))


def create_vhost() -> str:
    name = f"test-{uuid.uuid4().hex[:12]}"
    user = urlsplit(AMQP_URL).username or "guest"
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, user, ".*", ".*", ".*")
    return name


def delete_vhost(name: str) -> None:
    rabbitmqctl("delete_vhost", name)


async def create_postgres_database() -> str:
    name = f"test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    parts = urlsplit(POSTGRES_URL)
    return urlunsplit(("postgresql+psycopg", parts.netloc, f"/{name}", "", ""))


async def drop_postgres_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def eventually(
    probe: Callable[[], Awaitable[T] | T],
    until: Callable[[T], bool],
    *,
    timeout: float = 30.0,
    interval: float = 0.1,
    what: str = "condition",
) -> T:
    """Poll `probe` (sync or async) until `until(result)` holds; fail with the last result
    at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = probe()
        result: T = await outcome if inspect.isawaitable(outcome) else outcome  # type: ignore[assignment]
        if until(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s; last value: {result!r}")
        await asyncio.sleep(interval)


UNHANDLED = (
    " CRITICAL ",
    "Task exception was never retrieved",
    "Exception in ASGI application",
    "Unhandled exception",
)


class ServiceProcess:
    """One service, run as `python -m <name>_service` exactly as a user would."""

    def __init__(
        self, name: str, env: Mapping[str, str], log_dir: Path, module: str | None = None
    ) -> None:
        self.name = name
        self.module = module or f"{name}_service"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            **env,
            "HTTP_PORT": str(self.port),
            "HTTP_HOST": "127.0.0.1",
            "PYTHONUNBUFFERED": "1",
        }
        self.log_path = log_dir / f"{name}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "ServiceProcess":
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return self

    async def wait_ready(self, timeout: float = 30.0) -> None:
        async def probe() -> int:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited early:\n{self.log()}")
            try:
                async with httpx.AsyncClient(timeout=2) as client:
                    return (await client.get(f"{self.url}/health/ready")).status_code
            except httpx.HTTPError:
                return 0

        await eventually(
            probe, lambda code: code == 200, timeout=timeout, what=f"{self.name} ready"
        )

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            # Killed, which stopped_cleanly() reports: never leave a process behind.
            self.process.kill()
            return self.process.wait()

    def stopped_cleanly(self) -> bool:
        """Exited on SIGTERM (uvicorn re-raises it once shut down) after a graceful
        shutdown, with no unhandled error on the way. (Tracebacks that aiormq logs when
        the broker drops a connection are expected in some tests, and allowed.)"""
        assert self.process is not None
        log = self.log()
        return (
            self.process.returncode in (0, -signal.SIGTERM)
            and f"{self.name} service stopped" in log
            and not any(marker in log for marker in UNHANDLED)
        )

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class BrokerProbe:
    """A test's own view of the broker: tap an exchange, read a queue, publish raw bytes."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.connection: aio_pika.abc.AbstractRobustConnection | None = None
        self.channel: aio_pika.abc.AbstractChannel | None = None

    async def __aenter__(self) -> "BrokerProbe":
        self.connection = await aio_pika.connect_robust(self.url)
        self.channel = await self.connection.channel(on_return_raises=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.connection is not None
        await self.connection.close()

    async def tap(self, exchange: str) -> aio_pika.abc.AbstractQueue:
        """A private queue bound to `exchange` that records everything published to it."""
        assert self.channel is not None
        await self.channel.declare_exchange(exchange, aio_pika.ExchangeType.FANOUT, durable=True)
        queue = await self.channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange)
        return queue

    async def publish(
        self, exchange: str, body: bytes, routing_key: str = "", **properties: Any
    ) -> None:
        assert self.channel is not None
        target = (
            self.channel.default_exchange
            if exchange == ""
            else await self.channel.get_exchange(exchange, ensure=False)
        )
        properties.setdefault("delivery_mode", aio_pika.DeliveryMode.PERSISTENT)
        await target.publish(aio_pika.Message(body, **properties), routing_key)

    async def drain(self, queue_name: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
        """Take (and ack) every message now in `queue_name`."""
        assert self.channel is not None
        return await take_all(await self.channel.get_queue(queue_name, ensure=False))

    async def collect(
        self, queue_name: str, count: int, *, timeout: float = 30.0
    ) -> list[aio_pika.abc.AbstractIncomingMessage]:
        """Take messages from `queue_name` until `count` have arrived. (A quorum queue's
        message count, as declare-ok or rabbitmqctl report it, lags: read the messages.)"""
        collected: list[aio_pika.abc.AbstractIncomingMessage] = []

        async def more() -> int:
            collected.extend(await self.drain(queue_name))
            return len(collected)

        await eventually(
            more, lambda n: n >= count, timeout=timeout, what=f"{count} message(s) in {queue_name}"
        )
        return collected


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    """Start a service in this process: its runtime, and its HTTP app without a socket."""
    runtime: Runtime[Any] = app.state.host
    await runtime.start()
    try:
        await eventually(
            runtime.readiness, lambda checks: all(checks.values()), what=f"{runtime.service} ready"
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield runtime, client
    finally:
        await runtime.stop()


async def execute(db: Database, statements: list[str]) -> None:
    """Run SQL statements in one transaction (a test's fault or fix in a service's database)."""
    from sqlalchemy import text

    def run(conn: Any) -> None:
        for statement in statements:
            conn.execute(text(statement))

    await db.run(run)


async def get_json(client: httpx.AsyncClient, path: str) -> Any:
    response = await client.get(path)
    response.raise_for_status()
    return response.json()


async def take_all(queue: aio_pika.abc.AbstractQueue) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Take (and ack) every message now in `queue`."""
    messages = []
    while (message := await queue.get(fail=False, no_ack=True)) is not None:
        messages.append(message)
    return messages


def consumers_on(vhost_url: str, queue: str) -> int:
    vhost = unquote(urlsplit(vhost_url).path.lstrip("/"))
    lines = rabbitmqctl("list_consumers", "--vhost", vhost, "--no-table-headers", "queue_name")
    return sum(1 for line in lines.splitlines() if line.strip() == queue)


def unacked_on(vhost_url: str, queue: str) -> int:
    """Deliveries from `queue` that its consumers hold unacknowledged right now."""
    vhost = unquote(urlsplit(vhost_url).path.lstrip("/"))
    consumers = rabbitmqctl(
        "list_consumers", "--vhost", vhost, "--no-table-headers", "queue_name", "channel_pid"
    )
    channels = {
        line.split("\t")[1].strip()
        for line in consumers.splitlines()
        if line.split("\t")[0] == queue
    }
    total = 0
    for line in rabbitmqctl(
        "list_channels", "--no-table-headers", "pid", "messages_unacknowledged"
    ).splitlines():
        pid, _, count = line.rpartition("\t")
        if pid.strip() in channels and count.strip().isdigit():
            total += int(count)
    return total


@asynccontextmanager
async def holding_stock(database_url: str, sku: str) -> AsyncIterator[None]:
    """Hold a lock that any reservation of `sku` needs, so the inventory consumer blocks
    mid-transaction with its deliveries unacknowledged: SQLite's writer lock, or the
    stock row's lock on PostgreSQL."""
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(database_url.split(":///", 1)[1], isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    pg = await asyncpg.connect(database_url.replace("+psycopg", ""))
    try:
        async with pg.transaction():
            await pg.execute("SELECT * FROM stock WHERE sku = $1 FOR UPDATE", sku)
            yield
    finally:
        await pg.close()
