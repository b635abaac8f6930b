"""One consumer of the raw pipeline: manual acks, prefetch as the services use, and the
publish-to-consume latency of each message from the timestamp in its body."""

import asyncio
import time
from typing import Any

import aio_pika
import orjson
from aio_pika.abc import AbstractIncomingMessage

from benchmarks.procs import run_async
from benchmarks.workers import amqp_parser, ready, write_result


async def consume(
    url: str, queue_name: str, count: int, prefetch: int, timeout: float
) -> dict[str, Any]:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        queue = await channel.get_queue(queue_name)
        latencies_ms: list[float] = []
        first: list[float] = []
        done = asyncio.Event()

        async def on_message(message: AbstractIncomingMessage) -> None:
            now = time.time()
            sent_at = orjson.loads(message.body)["sent_at"]
            await message.ack()
            if not first:
                first.append(now)
            latencies_ms.append((now - sent_at) * 1000)
            if len(latencies_ms) == count:
                done.set()

        await queue.consume(on_message)
        ready()
        cpu = time.process_time()
        await asyncio.wait_for(done.wait(), timeout)
        return {
            "first": first[0],
            "last": time.time(),
            "cpu_seconds": time.process_time() - cpu,
            "latencies_ms": latencies_ms,
        }
    finally:
        await connection.close()


def main() -> None:
    args = amqp_parser(__doc__ or "").parse_args()
    result = run_async(consume(args.url, args.queue, args.count, args.prefetch, args.timeout))
    write_result(args.out, result)


if __name__ == "__main__":
    main()
