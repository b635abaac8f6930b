"""A bare FastStream 0.7 subscriber draining a queue: the same quorum queue (declared with
the same arguments), the same prefetch, acked after the handler returns, the handler doing
nothing. Logging is off, as the services run at WARNING."""

import asyncio
import time
from typing import TYPE_CHECKING, Any, cast

from faststream import AckPolicy
from faststream.rabbit import Channel, QueueType, RabbitBroker, RabbitQueue

from benchmarks.workers import ready, run_queue_job
from shared.contract.topology import ORDER_EVENTS, QueueSpec

if TYPE_CHECKING:
    from faststream.rabbit.schemas.queue import QuorumQueueArgs


async def drain(
    url: str, queue_name: str, count: int, prefetch: int, timeout: float
) -> dict[str, Any]:
    arguments = QueueSpec(queue_name, ORDER_EVENTS).arguments()
    arguments.pop("x-queue-type")  # RabbitQueue sets it from queue_type
    queue = RabbitQueue(
        queue_name, queue_type=QueueType.QUORUM, arguments=cast("QuorumQueueArgs", arguments)
    )
    broker = RabbitBroker(url, logger=None)
    seen: list[float] = []
    done = asyncio.Event()

    @broker.subscriber(queue, channel=Channel(prefetch_count=prefetch), ack_policy=AckPolicy.ACK)
    async def on_message(body: bytes) -> None:
        seen.append(time.time())
        if len(seen) == count:
            done.set()

    await broker.start()
    try:
        ready()
        cpu = time.process_time()
        await asyncio.wait_for(done.wait(), timeout)
        cpu = time.process_time() - cpu
    finally:
        await broker.stop()
    return {"first": seen[0], "last": seen[-1], "count": len(seen), "cpu_seconds": cpu}


def main() -> None:
    run_queue_job(drain, __doc__ or "")


if __name__ == "__main__":
    main()
