"""A work queue's consumer: its channel, prefetch and consumer tag, and the worker that
takes deliveries in batches (whatever has arrived, up to `batch_size`, so a lone message
is never held back waiting for company) and hands each batch to its `BatchProcessor`.

The consumer is registered through aio-pika's robust queue, which declares it again on
every reconnection (and after the broker cancels it); deliveries are then taken straight
from the AMQP channel under it (aiormq), as `AmqpDelivery`, not as aio-pika's incoming
messages, each built and handed over in a task of its own. Whenever aio-pika registers
the consumer again, its first delivery comes through aio-pika and hands the consumer
back to the direct path."""

import asyncio
import logging
from typing import Any

import aiormq
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)
from aiormq.abc import AbstractChannel, DeliveredMessage
from aiormq.exceptions import ChannelInvalidStateError

from shared.messaging.broker import bounded
from shared.messaging.delivery import AmqpDelivery
from shared.messaging.processing import BatchProcessor, settle

log = logging.getLogger(__name__)


class Consumer:
    def __init__(
        self,
        processor: BatchProcessor[Any],
        *,
        prefetch_count: int = 256,
        batch_size: int = 64,
    ) -> None:
        self.processor = processor
        self.spec = processor.queue
        self.name = processor.queue.name
        self._prefetch = prefetch_count
        self._batch_size = batch_size
        self._buffer: asyncio.Queue[AbstractIncomingMessage | AmqpDelivery] = asyncio.Queue()
        self._channel: AbstractRobustChannel | None = None
        self._queue: AbstractQueue | None = None
        self._consumer_tag: str | None = None
        self._worker: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False

    @property
    def processed(self) -> int:
        return self.processor.processed

    @property
    def is_running(self) -> bool:
        return (
            self._consumer_tag is not None
            and self._channel is not None
            and not self._channel.is_closed
            and self._worker is not None
            and not self._worker.done()
        )

    async def start(self, connection: AbstractRobustConnection) -> None:
        self._stopping = False
        channel = await connection.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=self._prefetch)
        # Declared (not just looked up) so the robust channel re-declares it on reconnect.
        queue = await channel.declare_queue(
            self.spec.name, durable=True, arguments=self.spec.arguments()
        )
        self._channel, self._queue = channel, queue
        self._worker = asyncio.create_task(self._work(), name=f"consumer:{self.name}")
        self._worker.add_done_callback(self._worker_ended)
        self._consumer_tag = await queue.consume(self._through_aio_pika)
        self._take_directly(await channel.get_underlay_channel())
        log.info("consuming %s (prefetch %d)", self.name, self._prefetch)

    async def _through_aio_pika(self, message: AbstractIncomingMessage) -> None:
        """aio-pika's callback: the first delivery after it (re)registered the consumer."""
        self._buffer.put_nowait(message)
        if _channel_open(message):
            self._take_directly(message.channel)

    async def _direct(self, message: DeliveredMessage) -> None:
        self._buffer.put_nowait(AmqpDelivery(message))

    def _take_directly(self, channel: AbstractChannel) -> None:
        """Have `channel` (aiormq's) hand this consumer's deliveries to `_direct`: its
        callback for our consumer tag, which aio-pika registered, is replaced."""
        tag = self._consumer_tag
        if isinstance(channel, aiormq.Channel) and tag is not None and tag in channel.consumers:
            channel.consumers[tag] = self._direct

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop taking deliveries, let the batch in progress finish, return the rest."""
        self._stopping = True
        if self._queue is not None and self._consumer_tag is not None:
            await bounded(self._queue.cancel(self._consumer_tag), 5, f"cancel {self.name}")
        self._consumer_tag = None
        try:
            await asyncio.wait_for(self._idle.wait(), grace_seconds)
        except TimeoutError:
            log.warning(
                "%s: batch still running after %.0fs; abandoning it", self.name, grace_seconds
            )
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        while not self._buffer.empty():
            await settle(self._buffer.get_nowait(), ack=False)
        if self._channel is not None and not self._channel.is_closed:
            await bounded(self._channel.close(), 5, f"close the channel of {self.name}")

    def _worker_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            # Readiness turns 503 (is_running): an orchestrator restarts the process.
            log.critical("%s: consumer worker died", self.name, exc_info=task.exception())

    async def _work(self) -> None:
        while True:
            first = await self._buffer.get()
            if self._stopping:
                # Not started: given back with the rest of the buffer (a batch can finish
                # without ever waiting, so the stop may not have had its turn yet).
                self._buffer.put_nowait(first)
                return
            batch = [first]
            while len(batch) < self._batch_size and not self._buffer.empty():
                batch.append(self._buffer.get_nowait())
            # Deliveries from a channel that has since closed will come again; skip them.
            live = [m for m in batch if _channel_open(m)]
            if not live:
                continue
            self._idle.clear()
            try:
                await self.processor.process(live)
            except Exception:
                log.exception("%s: unexpected failure handling a batch", self.name)
                for message in live:
                    await settle(message, ack=False)
            finally:
                self._idle.set()


def _channel_open(message: AbstractIncomingMessage | AmqpDelivery) -> bool:
    try:
        return not message.channel.is_closed
    except ChannelInvalidStateError:  # aio-pika's way of saying "closed"
        return False
