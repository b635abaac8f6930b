"""The broker under test: a vhost of its own for every test or benchmark phase (made with
`rabbitmqctl`, so tests and benchmarks run where the broker runs), a probe to tap, read
and publish with, and what `rabbitmqctl` says about a queue's consumers."""

import asyncio
import fcntl
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import aio_pika

from tests.support.polling import eventually

AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


# Tests share the machine's broker node, and one fault test stops it for a few seconds
# (`rabbitmqctl stop_app`). Every test that uses the broker holds this lock shared for its
# duration; the one that stops the node holds it exclusively, so it waits for the tests of
# other runs on this machine to finish, and they wait for it.
BROKER_LOCK = Path(tempfile.gettempdir()) / "rabbit-orders-test-broker.lock"


@contextmanager
def broker_lock(*, exclusive: bool = False, timeout: float = 600.0) -> Iterator[None]:
    with BROKER_LOCK.open("a") as file:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(file, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"the test broker stayed in use by another test run for {timeout:.0f}s"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


def rabbitmqctl(*args: str) -> str:
    """Run rabbitmqctl against the test broker. A missing broker fails loudly."""
    result = subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {result.stderr or result.stdout}")
    return result.stdout


def amqp_url(vhost: str) -> str:
    parts = urlsplit(AMQP_URL)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(vhost, safe=""), "", ""))


def vhost_of(url: str) -> str:
    return unquote(urlsplit(url).path.lstrip("/"))


def create_vhost(prefix: str = "test") -> str:
    """A new vhost, named `<prefix>-<random>`, that the test broker's user may use."""
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    user = urlsplit(AMQP_URL).username or "guest"
    rabbitmqctl("add_vhost", name)
    try:
        rabbitmqctl("set_permissions", "-p", name, user, ".*", ".*", ".*")
    except BaseException:
        delete_vhost(name)
        raise
    return name


def delete_vhost(name: str) -> None:
    rabbitmqctl("delete_vhost", name)


@asynccontextmanager
async def vhost_for_the_block(prefix: str) -> AsyncIterator[str]:
    """A vhost that lives as long as the block, however it ends; yields its AMQP URL.
    (rabbitmqctl takes a second or so: it runs off the event loop.)"""
    name = await asyncio.to_thread(create_vhost, prefix)
    try:
        yield amqp_url(name)
    finally:
        await asyncio.to_thread(delete_vhost, name)


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


async def take_all(queue: aio_pika.abc.AbstractQueue) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Take (and ack) every message now in `queue`."""
    messages = []
    while (message := await queue.get(fail=False, no_ack=True)) is not None:
        messages.append(message)
    return messages


def consumers_on(vhost_url: str, queue: str) -> int:
    lines = rabbitmqctl(
        "list_consumers", "--vhost", vhost_of(vhost_url), "--no-table-headers", "queue_name"
    )
    return sum(1 for line in lines.splitlines() if line.strip() == queue)


def unacked_on(vhost_url: str, queue: str) -> int:
    """Deliveries from `queue` that its consumers hold unacknowledged right now."""
    consumers = rabbitmqctl(
        *("list_consumers", "--vhost", vhost_of(vhost_url), "--no-table-headers"),
        *("queue_name", "channel_pid"),
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
