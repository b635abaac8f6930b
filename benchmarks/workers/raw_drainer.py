"""A bare aio-pika consumer draining a queue: prefetch as the services use, one ack per
message, nothing else."""

import asyncio
import time
from typing import Any

from aio_pika.abc import AbstractIncomingMessage

from benchmarks.workers import consuming, run_queue_job


async def drain(
    url: str, queue_name: str, count: int, prefetch: int, timeout: float
) -> dict[str, Any]:
    seen: list[float] = []
    done = asyncio.Event()

    async def on_message(message: AbstractIncomingMessage) -> None:
        await message.ack()
        seen.append(time.time())
        if len(seen) == count:
            done.set()

    async with consuming(url, queue_name, prefetch, on_message):
        cpu = time.process_time()
        await asyncio.wait_for(done.wait(), timeout)
        cpu = time.process_time() - cpu
    return {"first": seen[0], "last": seen[-1], "count": len(seen), "cpu_seconds": cpu}


def main() -> None:
    run_queue_job(drain, __doc__ or "")


if __name__ == "__main__":
    main()
