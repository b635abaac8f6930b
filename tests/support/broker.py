"""The broker under test: a vhost of its own for every test or benchmark phase, a probe to
tap, read and publish with, and what the broker says about a queue's consumers. Vhosts and
listings go through the management API, the broker's container or the local `rabbitmqctl`
(tests.support.broker_control), so the broker need not be this machine's."""

import asyncio
import fcntl
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import aio_pika

from tests.support.broker_control import amqp_url_under_test, broker_under_test
from tests.support.polling import eventually

AMQP_URL = amqp_url_under_test()


def lock_path(amqp_url: str) -> Path:
    """One lock per broker: the machine's own (127.0.0.1:5672) keeps the name every checkout
    on this machine has used; any other broker (a test run's own container) has its own."""
    parts = urlsplit(amqp_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5672
    suffix = "" if (host, port) in {("127.0.0.1", 5672), ("localhost", 5672)} else f"-{host}-{port}"
    return Path(tempfile.gettempdir()) / f"rabbit-orders-test-broker{suffix}.lock"


# Tests share a broker node, and one fault test stops it for a few seconds (`stop_app`).
# Every test that uses the broker holds this lock shared for its duration; the one that
# stops the node holds it exclusively, so it waits for the tests of other runs against the
# same broker to finish, and they wait for it.
BROKER_LOCK = lock_path(AMQP_URL)


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
    """Run rabbitmqctl where the broker's node runs (this machine, or its container)."""
    return broker_under_test().node(*args)


def amqp_url(vhost: str) -> str:
    parts = urlsplit(AMQP_URL)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(vhost, safe=""), "", ""))


def vhost_of(url: str) -> str:
    return unquote(urlsplit(url).path.lstrip("/"))


def create_vhost(prefix: str = "test") -> str:
    """A new vhost, named `<prefix>-<random>`, that the test broker's user may use."""
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    broker_under_test().administration.add_vhost(name, broker_under_test().user)
    return name


def delete_vhost(name: str) -> None:
    broker_under_test().administration.delete_vhost(name)


def broker_version() -> str:
    return broker_under_test().administration.version()


def server_version(connection: aio_pika.abc.AbstractConnection) -> tuple[int, ...]:
    """The broker's version as it announced itself on `connection` (AMQP's server
    properties): what a test that expects 3.x or 4.x behaviour asks."""
    assert connection.transport is not None
    announced = connection.transport.connection.server_properties["version"]
    text = announced.decode() if isinstance(announced, bytes) else str(announced)
    return tuple(int(part) for part in text.split(".") if part.isdigit())


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
    return broker_under_test().listings.consumers(vhost_of(vhost_url)).count(queue)


def unacked_on(vhost_url: str, queue: str) -> int:
    """Deliveries from `queue` that its consumers hold unacknowledged right now."""
    return broker_under_test().listings.unacked(vhost_of(vhost_url), queue)


def ready_and_unacked(vhost_url: str, queue: str) -> tuple[int, int]:
    """The queue's ready and unacknowledged messages, as the broker counts them (a quorum
    queue's counts lag a moment: poll them)."""
    return broker_under_test().listings.queue_counts(vhost_of(vhost_url), queue)


def connections_in(vhost_url: str) -> set[str]:
    """An id of each client connection to the vhost right now."""
    return broker_under_test().listings.connections(vhost_of(vhost_url))


def close_connections(vhost_url: str, reason: str) -> None:
    broker_under_test().listings.close_connections(vhost_of(vhost_url), reason)


def stop_node() -> None:
    """Stop the broker application (the node stays up, its listeners closed)."""
    broker_under_test().node.stop_app()


def start_node() -> None:
    broker_under_test().node.start_app()
