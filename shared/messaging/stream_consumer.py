"""A stream's reader: every message from an offset on, in order, handed over in batches to
a sink that records them together with the offset reached.

A stream is not a work queue, and its reader is not a `Consumer`:
- it starts where its reader says (`x-stream-offset`): the offset after the last one it
  recorded, or the stream's first when it has recorded nothing (so an empty database is
  rebuilt from the whole stream);
- an ack only returns credit to the broker (the prefetch, which a stream requires): it
  removes nothing, and a message not acked is not redelivered to anyone else;
- so there is no retry queue and no dead-letter queue: a message the sink cannot make sense
  of must be recorded as such by the sink (never raised), or the reader would stop there
  for ever. What the sink raises is taken for an outage (its database away): the reader
  closes its channel, waits, and reads again from the last offset the sink recorded.

It has an AMQP connection of its own, not a robust one: after any interruption it must
start again from the offset the sink *recorded*, where a robust channel would consume
again with the arguments of its first consume (the stream's first offset, say)."""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aio_pika
from aio_pika.abc import AbstractConnection, AbstractIncomingMessage

from shared.contract.topology import StreamSpec
from shared.messaging.broker import bounded

log = logging.getLogger(__name__)

OFFSET_HEADER = "x-stream-offset"


@dataclass(frozen=True)
class StreamMessage:
    """A message read from a stream: its offset, its body and what the publisher said."""

    offset: int
    body: bytes
    headers: Mapping[str, Any]
    message_id: str | None
    type: str | None
    app_id: str | None
    user_id: str | None
    timestamp: datetime | None

    @classmethod
    def of(cls, message: AbstractIncomingMessage) -> "StreamMessage":
        headers = dict(message.headers or {})
        return cls(
            offset=_offset(headers.pop(OFFSET_HEADER)),
            body=message.body,
            headers=headers,
            message_id=message.message_id,
            type=message.type,
            app_id=message.app_id,
            user_id=message.user_id,
            timestamp=message.timestamp,
        )


def _offset(value: object) -> int:
    if not isinstance(value, int):
        raise ValueError(f"{OFFSET_HEADER} is not an integer: {value!r}")
    return value


# Records a batch and the offset it reaches, in one transaction; raises only when it could
# not record anything (an outage).
Sink = Callable[[Sequence[StreamMessage]], Awaitable[None]]
# The offset to read from next: None for the stream's first.
ResumeFrom = Callable[[], Awaitable[int | None]]


class StreamReader:
    def __init__(
        self,
        url: str | Sequence[str],
        stream: StreamSpec,
        sink: Sink,
        resume_from: ResumeFrom,
        *,
        name: str = "stream-reader",
        prefetch_count: int = 256,
        batch_size: int = 64,
        retry_seconds: float = 1.0,
    ) -> None:
        # One URL, or one per node of a cluster: each attempt after a failure takes the next.
        self._urls = [url] if isinstance(url, str) else list(url)
        self._attempt = 0
        self.stream = stream
        self._sink = sink
        self._resume_from = resume_from
        self._name = name
        self._prefetch = prefetch_count
        self._batch_size = batch_size
        self._retry_seconds = retry_seconds
        self._connection: AbstractConnection | None = None
        self.reading = False
        self.position: int | None = None  # the next offset to read, once known
        self.recorded = 0  # messages handed to the sink and recorded

    @property
    def is_running(self) -> bool:
        return self.reading

    async def run(self) -> None:
        """Read until cancelled; after an interruption (broker, database), read again from
        the last offset recorded."""
        while True:
            try:
                await self._read_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "reading %s stopped (%r); reading again in %.1fs",
                    self.stream.name,
                    exc,
                    self._retry_seconds,
                )
            finally:
                self.reading = False
                if self._connection is not None:
                    await bounded(self._connection.close(), 5, f"close {self._name}")
                    self._connection = None
            await asyncio.sleep(self._retry_seconds)

    async def _read_once(self) -> None:
        start = await self._resume_from()
        url = self._urls[self._attempt % len(self._urls)]
        self._attempt += 1
        connection = await aio_pika.connect(
            url, client_properties={"connection_name": self._name}, timeout=10
        )
        self._connection = connection
        closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_close(*_: Any) -> None:
            if not closed.done():
                closed.set_result(None)

        connection.close_callbacks.add(on_close)
        channel = await connection.channel(publisher_confirms=False)
        channel.close_callbacks.add(on_close)
        await channel.set_qos(prefetch_count=self._prefetch)  # a stream requires it
        queue = await channel.get_queue(self.stream.name, ensure=False)
        buffer: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        await queue.consume(
            buffer.put, arguments={OFFSET_HEADER: "first" if start is None else start}
        )
        self.position, self.reading = start, True
        log.info(
            "reading %s from offset %s (prefetch %d)",
            self.stream.name,
            "first" if start is None else start,
            self._prefetch,
        )
        worker = asyncio.create_task(self._work(buffer), name=f"{self._name}:work")
        try:
            done, _ = await asyncio.wait({worker, closed}, return_when=asyncio.FIRST_COMPLETED)
            if worker in done:
                worker.result()  # raises what stopped it
            raise ConnectionError(f"the channel reading {self.stream.name} closed")
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await worker

    async def _work(self, buffer: "asyncio.Queue[AbstractIncomingMessage]") -> None:
        while True:
            batch = [await buffer.get()]
            while len(batch) < self._batch_size and not buffer.empty():
                batch.append(buffer.get_nowait())
            messages = [StreamMessage.of(m) for m in batch]
            # A stream may deliver from the start of the chunk holding the offset asked for:
            # what is before it was recorded already.
            wanted = [m for m in messages if self.position is None or m.offset >= self.position]
            if wanted:
                await self._sink(wanted)
                self.position = wanted[-1].offset + 1
                self.recorded += len(wanted)
            # Credit back to the broker: acks remove nothing from a stream.
            await batch[-1].ack(multiple=True)
