"""Declares the contract's topology (`shared.contract.topology`) on a channel, or checks
that it is there: exchanges, work queues with their dead-letter and retry queues, and the
streams (the event log) bound to their exchanges."""

import logging
from collections.abc import Iterable
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractQueue

from shared.contract.topology import EXCHANGES, QUEUES, STREAMS, QueueSpec, StreamSpec

GROUP_SIZE = "x-quorum-initial-group-size"

log = logging.getLogger(__name__)


class OutdatedDeadLetterQueue(RuntimeError):
    """A dead-letter queue declared by a version of this system from before its delivery
    limit (a queue's arguments cannot change once it exists)."""

    def __init__(self, name: str, cause: Exception) -> None:
        super().__init__(
            f"the dead-letter queue {name} exists with other arguments ({cause}): made before "
            "dead-letter queues named their delivery limit, it would drop a dead letter read "
            "20 times on RabbitMQ 4. Empty it (replay, purge, or move its messages aside with "
            "a shovel), delete it and start the service again, which makes it anew (README, "
            "RabbitMQ versions)"
        )


async def declare(
    channel: AbstractChannel,
    *,
    retry_delays: Iterable[float],
    exchanges: Iterable[str] = EXCHANGES,
    queues: Iterable[QueueSpec] = QUEUES,
    streams: Iterable[StreamSpec] = STREAMS,
) -> None:
    """Declare exchanges, work queues, their bindings, retry queues and dead-letter queues,
    and the streams. Safe to run any number of times, from any number of processes, as long
    as each gives a stream the same retention (the broker refuses any other)."""
    delays = tuple(retry_delays)
    for name in exchanges:
        await channel.declare_exchange(name, aio_pika.ExchangeType.FANOUT, durable=True)
    for spec in queues:
        dlx = await channel.declare_exchange(
            spec.dead_letter_exchange, aio_pika.ExchangeType.FANOUT, durable=True
        )
        try:
            dlq = await _queue(channel, spec.dead_letter_queue, spec.dead_letter_arguments())
        except aio_pika.exceptions.ChannelPreconditionFailed as exc:
            raise OutdatedDeadLetterQueue(spec.dead_letter_queue, exc) from exc
        await dlq.bind(dlx)
        queue = await _queue(channel, spec.name, spec.arguments())
        await queue.bind(spec.exchange)
        for delay in delays:
            await _queue(channel, spec.retry_queue(delay), spec.retry_arguments(delay))
    for stream in streams:
        declared = await channel.declare_queue(
            stream.name, durable=True, arguments=stream.arguments()
        )
        for exchange in stream.exchanges:
            await declared.bind(exchange)


async def _queue(channel: AbstractChannel, name: str, arguments: dict[str, Any]) -> AbstractQueue:
    """Declare a durable queue. A queue made before the topology named its replicas' group
    size (a broker refuses the same queue declared with another) is declared again without
    it: the size counts only when a queue is made, so a queue made without it loses nothing
    by not naming it (`rabbitmq-queues grow` adds replicas to one that has too few). Any
    other difference is refused as before."""
    try:
        return await channel.declare_queue(name, durable=True, arguments=arguments)
    except aio_pika.exceptions.ChannelPreconditionFailed as exc:
        if GROUP_SIZE not in str(exc) or GROUP_SIZE not in arguments:
            raise
    await channel.reopen()
    queue = await channel.declare_queue(
        name, durable=True, arguments={k: v for k, v in arguments.items() if k != GROUP_SIZE}
    )
    log.info("queue %s was made without a group size: declared as it was made", name)
    return queue


async def check(
    channel: AbstractChannel,
    *,
    retry_delays: Iterable[float],
    exchanges: Iterable[str] = EXCHANGES,
    queues: Iterable[QueueSpec] = QUEUES,
    streams: Iterable[StreamSpec] = STREAMS,
) -> None:
    """Check that every part `declare` makes is there, changing nothing: passive
    declarations, which need no permission. For a broker user allowed to configure only its
    own queues, where an operator declares the topology (compose: the broker's definitions).
    Raises (and the channel closes) at the first part missing."""
    delays, specs = tuple(retry_delays), tuple(queues)
    for name in (*exchanges, *(spec.dead_letter_exchange for spec in specs)):
        await channel.declare_exchange(name, passive=True)
    for spec in specs:
        for name in (spec.name, spec.dead_letter_queue, *map(spec.retry_queue, delays)):
            await channel.declare_queue(name, passive=True)
    for stream in streams:
        await channel.declare_queue(stream.name, passive=True)
