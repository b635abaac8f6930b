"""How the broker's queues are doing: each work queue's depth and consumers, its
dead-letter queue's depth, what waits in its retry queues, and the event log's length.

From RabbitMQ's management API when it is configured and answers; otherwise from passive
declarations over AMQP (which need no permission and no plugin), which count ready
messages only, not those consumers hold unacknowledged. The page says which it is."""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

import httpx
from aio_pika.abc import AbstractConnection
from aiormq.exceptions import ChannelClosed
from pydantic import SecretStr

from shared.contract.topology import QueueSpec, StreamSpec
from shared.messaging.broker import bounded


@dataclass(frozen=True)
class QueueHealth:
    name: str
    messages: int
    consumers: int
    dead_letters: int
    retrying: int


@dataclass(frozen=True)
class BrokerHealth:
    queues: list[QueueHealth]
    stream_messages: int | None
    stream_consumers: int | None
    source: str  # "management API" or "AMQP (...why)"
    error: str | None = None


@dataclass(frozen=True)
class _Counts:
    messages: int
    consumers: int


class BrokerWatch:
    def __init__(
        self,
        amqp_url: str,
        connected: Callable[[], Awaitable[AbstractConnection]],
        queues: Sequence[QueueSpec],
        stream: StreamSpec,
        retry_delays: Sequence[float],
        *,
        management_url: str | None,
        username: str | None,
        password: SecretStr | None,
        timeout: float = 5.0,
    ) -> None:
        parts = urlsplit(amqp_url)
        self._vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
        self._connected = connected
        self._queues = list(queues)
        self._stream = stream
        self._retry_delays = list(retry_delays)
        self._management_url = management_url.rstrip("/") if management_url else None
        user = username or unquote(parts.username or "guest")
        secret = password.get_secret_value() if password else unquote(parts.password or "guest")
        self._client = httpx.AsyncClient(timeout=timeout, auth=(user, secret))

    async def close(self) -> None:
        await self._client.aclose()

    async def read(self) -> BrokerHealth:
        why = "management API not configured"
        if self._management_url is not None:
            try:
                return self._health(await self._from_management(), "management API")
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                why = f"management API unreachable: {type(exc).__name__}"
        try:
            counts = await self._from_amqp()
        except Exception as exc:
            return BrokerHealth([], None, None, f"AMQP ({why})", error=f"{exc!r}"[:300])
        return self._health(counts, f"AMQP, ready messages only ({why})")

    def names(self) -> list[str]:
        names = [self._stream.name]
        for spec in self._queues:
            names += [spec.name, spec.dead_letter_queue]
            names += [spec.retry_queue(delay) for delay in self._retry_delays]
        return names

    def _health(self, counts: dict[str, _Counts], source: str) -> BrokerHealth:
        zero = _Counts(0, 0)
        queues = [
            QueueHealth(
                spec.name,
                counts.get(spec.name, zero).messages,
                counts.get(spec.name, zero).consumers,
                counts.get(spec.dead_letter_queue, zero).messages,
                sum(
                    counts.get(spec.retry_queue(delay), zero).messages
                    for delay in self._retry_delays
                ),
            )
            for spec in self._queues
        ]
        stream = counts.get(self._stream.name)
        return BrokerHealth(
            queues,
            stream.messages if stream else None,
            stream.consumers if stream else None,
            source,
        )

    async def _from_management(self) -> dict[str, _Counts]:
        assert self._management_url is not None
        response = await self._client.get(
            f"{self._management_url}/api/queues/{quote(self._vhost, safe='')}",
            params={"columns": "name,messages,consumers"},
        )
        response.raise_for_status()
        return {
            q["name"]: _Counts(int(q.get("messages") or 0), int(q.get("consumers") or 0))
            for q in response.json()
        }

    async def _from_amqp(self) -> dict[str, _Counts]:
        connection = await self._connected()
        counts: dict[str, _Counts] = {}
        channel = await connection.channel(publisher_confirms=False)
        try:
            for name in self.names():
                if name == self._stream.name:
                    continue  # a passive declare of a stream counts nothing useful
                try:
                    declared = await channel.declare_queue(name, passive=True)
                except ChannelClosed:
                    # Not there (a retry queue of delays other services do not use): the
                    # broker closed the channel; go on with another.
                    channel = await connection.channel(publisher_confirms=False)
                    continue
                result = declared.declaration_result
                counts[name] = _Counts(result.message_count or 0, result.consumer_count or 0)
        finally:
            await bounded(channel.close(), 5, "close the broker-health channel")
        return counts
