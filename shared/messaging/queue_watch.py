"""How deep a service's queues are and who consumes them, as the broker sees it: read
every so often with passive declares on a channel of its own, into the metrics
`broker_queue_messages` and `broker_queue_consumers` (work queues and their DLQs)."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from aio_pika.abc import AbstractConnection

from shared.messaging.broker import bounded
from shared.telemetry.metrics import Metrics

log = logging.getLogger(__name__)


async def watch_queues(
    connected: Callable[[], Awaitable[AbstractConnection]],
    queues: Sequence[str],
    metrics: Metrics,
    *,
    interval: float = 15.0,
) -> None:
    """Runs until cancelled; a round that fails (broker away) is tried again later."""
    while True:
        try:
            await read_queues(await connected(), queues, metrics)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("could not read queue depths: %r", exc)
        await asyncio.sleep(interval)


async def read_queues(
    connection: AbstractConnection, queues: Sequence[str], metrics: Metrics
) -> None:
    channel = await connection.channel(publisher_confirms=False)
    try:
        for name in queues:
            # Passive: reads what is there, creates nothing. (Ready messages: those held
            # unacknowledged by consumers are not counted.)
            queue = await channel.declare_queue(name, passive=True)
            result = queue.declaration_result
            metrics.queue_messages.labels(name).set(result.message_count or 0)
            metrics.queue_consumers.labels(name).set(result.consumer_count or 0)
    finally:
        await bounded(channel.close(), 5, "close the queue-watch channel")
