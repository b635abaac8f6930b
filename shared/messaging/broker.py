"""The broker connection: one robust AMQP connection per process, opened in the background
so the service starts (and serves HTTP) while RabbitMQ is still down, with the contract's
topology declared on every (re)connection (or only checked, where an operator declares it),
and a publisher-confirms channel on which an unroutable message is an error, never a silent
loss."""

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Iterable, Sequence
from typing import Any

import aio_pika
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection
from aio_pika.connection import make_url
from pamqp.commands import Basic
from yarl import URL

from shared.contract import topology
from shared.contract.envelope import CONTENT_TYPE
from shared.contract.outbound import OutboundMessage
from shared.messaging.declare import check, declare
from shared.messaging.delivery import PERSISTENT, Outgoing, publish_confirmed

log = logging.getLogger(__name__)


class BrokerUnavailable(ConnectionError):
    pass


def node_urls(url: str, failover_hosts: Iterable[str] = ()) -> list[str]:
    """`url`, then the same URL (user, password, vhost, options) on each other node of the
    cluster, `host` or `host:port` (the port of `url` when none is given)."""
    first = URL(url)
    urls = [url]
    for node in failover_hosts:
        host, _, port = node.strip().rpartition(":") if ":" in node else (node.strip(), "", "")
        other = first.with_host(host).with_port(int(port) if port else first.port)
        urls.append(str(other))
    return urls


class FailoverConnection(aio_pika.RobustConnection):
    """A robust connection to one of several nodes of a cluster: every connection attempt
    goes to the next node in the list, so that losing the node it was connected to (or never
    reaching it) costs a reconnection, not the service. Channels and consumers are restored
    on whichever node answers, as with one node: every node of a cluster serves every queue.

    aio-pika connects to `self.url` and clears `self.transport` before each attempt: the
    node is chosen there."""

    def __init__(self, urls: Sequence[str], **kwargs: Any) -> None:
        self._urls = [URL(url) for url in urls]
        self._attempts = 0
        self._counting = False
        super().__init__(self._urls[0], **kwargs)
        self._counting = True

    @property
    def url(self) -> URL:
        return self._urls[max(self._attempts - 1, 0) % len(self._urls)]

    @url.setter
    def url(self, value: URL) -> None:
        # aio-pika sets it once made, and with a new password (update_secret): every node's.
        if value.password is not None:
            self._urls = [u.with_password(value.password) for u in self._urls]

    @property
    def transport(self) -> Any:
        return self.__dict__.get("_transport")

    @transport.setter
    def transport(self, value: Any) -> None:
        if value is None and self._counting:
            self._attempts += 1
        self.__dict__["_transport"] = value


class Broker:
    def __init__(
        self,
        url: str,
        *,
        name: str,
        retry_delays: Iterable[float],
        extra_queues: Iterable[topology.QueueSpec] = (),
        streams: Iterable[topology.StreamSpec] = topology.STREAMS,
        publish_timeout: float = 30.0,
        declare_topology: bool = True,
        failover_hosts: Iterable[str] = (),
    ) -> None:
        self.urls = node_urls(url, failover_hosts)
        self._declare_topology = declare_topology
        self._queues = tuple(dict.fromkeys((*topology.QUEUES, *extra_queues)))
        self._streams = tuple(streams)
        self._name = f"{name}@{socket.gethostname()}:{os.getpid()}"
        self._retry_delays = tuple(retry_delays)
        self._publish_timeout = publish_timeout
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._connect(), name="broker-connect")

    async def connected(self) -> AbstractRobustConnection:
        """Wait for the first successful connection (topology declared)."""
        await self._ready.wait()
        assert self._connection is not None
        return self._connection

    @property
    def is_ready(self) -> bool:
        conn, channel = self._connection, self._channel
        return (
            conn is not None
            and channel is not None
            and not conn.is_closed
            and conn.connected.is_set()
            and not channel.is_closed
        )

    async def publish(self, exchange: str, routing_key: str, message: Outgoing) -> None:
        """Publish and wait for the broker's confirm. Raises if the broker is unreachable,
        nacks the message, or cannot route it to any queue."""
        if not self.is_ready or self._channel is None:
            raise BrokerUnavailable("not connected to the broker")
        # The whole call is bounded: a robust channel that is being restored would
        # otherwise wait for the connection without limit.
        async with asyncio.timeout(self._publish_timeout):
            # The channel under the robust one: a new one after each reconnection.
            channel = await self._channel.get_underlay_channel()
            await publish_confirmed(channel, exchange, routing_key, message)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._connection is not None:
            await bounded(self._connection.close(), 5, "close the broker connection")

    async def _connect(self) -> None:
        delay = 0.5
        while True:
            # Made here, not inside connect_robust, so that it can be closed whatever
            # happens: a robust connection abandoned while it is still connecting would
            # go on reconnecting in the background for the life of the process.
            connection = FailoverConnection(
                [str(make_url(url, reconnect_interval=1)) for url in self.urls],
                client_properties={"connection_name": self._name},
                reconnect_interval=1,
            )
            try:
                await connection.connect(timeout=10)
                channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
                prepare = declare if self._declare_topology else check
                await prepare(
                    channel,
                    retry_delays=self._retry_delays,
                    queues=self._queues,
                    streams=self._streams,
                )
            except BaseException as exc:
                await bounded(connection.close(), 5, "close an unfinished broker connection")
                if not isinstance(exc, Exception):
                    raise  # cancelled: the service is stopping
                log.warning("broker not reachable (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            self._connection, self._channel = connection, channel
            self._ready.set()
            log.info("connected to the broker as %s (%s)", self._name, connection.url.host)
            return


async def bounded(operation: Awaitable[Any], seconds: float, what: str) -> None:
    """Await a broker operation that must not hold up shutdown: while the broker is
    unreachable, aio-pika would wait for a reconnection that may never come."""
    try:
        await asyncio.wait_for(operation, seconds)
    except TimeoutError:
        log.warning("gave up waiting to %s after %.0fs", what, seconds)
    except Exception as exc:
        log.debug("could not %s: %r", what, exc)


def amqp_message(message: OutboundMessage, *, app_id: str, user_id: str | None = None) -> Outgoing:
    """The AMQP message for an encoded event: properties mirror the envelope (message id,
    type, correlation id), delivery persistent, its headers (signature) attached. `user_id`
    names the connection's user: the broker refuses it from anyone else."""
    return Outgoing(
        message.body,
        Basic.Properties(
            headers=dict(message.headers),
            user_id=user_id,
            content_type=CONTENT_TYPE,
            message_id=message.id,
            message_type=message.event_type,
            correlation_id=message.correlation_id,
            timestamp=message.created_at,
            app_id=app_id,
            delivery_mode=PERSISTENT,
        ),
    )
