"""One consumer of the raw pipeline: manual acks, prefetch as the services use, and the
publish-to-consume latency of each message from the timestamp in its body."""

import asyncio
import time
from typing import Any

import orjson
from aio_pika.abc import AbstractIncomingMessage

from benchmarks.workers import consuming, run_queue_job


async def consume(
    url: str, queue_name: str, count: int, prefetch: int, timeout: float
) -> dict[str, Any]:
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

    async with consuming(url, queue_name, prefetch, on_message):
        cpu = time.process_time()
        await asyncio.wait_for(done.wait(), timeout)
        last, cpu = time.time(), time.process_time() - cpu
    return {"first": first[0], "last": last, "cpu_seconds": cpu, "latencies_ms": latencies_ms}


def main() -> None:
    run_queue_job(consume, __doc__ or "")


if __name__ == "__main__":
    main()
