"""Publishing with publisher confirms and a bounded number of messages in flight."""

import asyncio
import time
from collections.abc import Callable

import aio_pika
from aio_pika.abc import AbstractExchange


async def publish_confirmed(
    exchange: AbstractExchange,
    make_message: Callable[[int], aio_pika.Message],
    count: int,
    *,
    in_flight: int,
    rate: float | None = None,
    routing_key: str = "",
) -> tuple[float, float]:
    """Publish `count` messages, at most `in_flight` unconfirmed at once, each awaited until
    the broker confirms it; at `rate` messages/s on schedule if given, else as fast as the
    window allows. Returns the wall-clock time of the first publish and of the last confirm.
    """
    window = asyncio.Semaphore(in_flight)
    failures: list[BaseException] = []
    tasks: set[asyncio.Task[None]] = set()

    async def one(n: int) -> None:
        try:
            await exchange.publish(make_message(n), routing_key, mandatory=True)
        except Exception as exc:
            failures.append(exc)
        finally:
            window.release()

    loop = asyncio.get_running_loop()
    start = loop.time()
    first = time.time()
    for n in range(count):
        if rate is not None:
            delay = start + n / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        await window.acquire()
        task = asyncio.create_task(one(n))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    while tasks:
        await asyncio.gather(*tasks)
    if failures:
        raise RuntimeError(f"{len(failures)} publish(es) failed, first: {failures[0]!r}")
    return first, time.time()
