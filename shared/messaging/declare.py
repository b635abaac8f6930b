"""Declares the contract's topology (`shared.contract.topology`) on a channel, or checks
that it is there."""

from collections.abc import Iterable

import aio_pika
from aio_pika.abc import AbstractChannel

from shared.contract.topology import EXCHANGES, QUEUES, QUORUM, QueueSpec


async def declare(
    channel: AbstractChannel,
    *,
    retry_delays: Iterable[float],
    exchanges: Iterable[str] = EXCHANGES,
    queues: Iterable[QueueSpec] = QUEUES,
) -> None:
    """Declare exchanges, work queues, their bindings, retry queues and dead-letter queues.
    Safe to run any number of times, from any number of processes."""
    delays = tuple(retry_delays)
    for name in exchanges:
        await channel.declare_exchange(name, aio_pika.ExchangeType.FANOUT, durable=True)
    for spec in queues:
        dlx = await channel.declare_exchange(
            spec.dead_letter_exchange, aio_pika.ExchangeType.FANOUT, durable=True
        )
        dlq = await channel.declare_queue(spec.dead_letter_queue, durable=True, arguments=QUORUM)
        await dlq.bind(dlx)
        queue = await channel.declare_queue(spec.name, durable=True, arguments=spec.arguments())
        await queue.bind(spec.exchange)
        for delay in delays:
            await channel.declare_queue(
                spec.retry_queue(delay), durable=True, arguments=spec.retry_arguments(delay)
            )


async def check(
    channel: AbstractChannel,
    *,
    retry_delays: Iterable[float],
    exchanges: Iterable[str] = EXCHANGES,
    queues: Iterable[QueueSpec] = QUEUES,
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
