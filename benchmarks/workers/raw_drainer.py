"""A bare aio-pika consumer draining a queue: prefetch as the services use, one ack per
message, nothing else."""

import asyncio
import time
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from benchmarks.procs import run_async
from benchmarks.workers import amqp_parser, ready, write_result


async def drain(
    url: str, queue_name: str, count: int, prefetch: int, timeout: float
) -> dict[str, Any]:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        queue = await channel.get_queue(queue_name)
        seen: list[float] = []
        done = asyncio.Event()

        async def on_message(message: AbstractIncomingMessage) -> None:
            await message.ack()
            seen.append(time.time())
            if len(seen) == count:
                done.set()

        await queue.consume(on_message)
        ready()
        cpu = time.process_time()
        await asyncio.wait_for(done.wait(), timeout)
        cpu = time.process_time() - cpu
        return {"first": seen[0], "last": seen[-1], "count": len(seen), "cpu_seconds": cpu}
    finally:
        await connection.close()


def main() -> None:
    args = amqp_parser(__doc__ or "").parse_args()
    result = run_async(drain(args.url, args.queue, args.count, args.prefetch, args.timeout))
    write_result(args.out, result)


if __name__ == "__main__":
    main()
