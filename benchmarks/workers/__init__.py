"""Worker processes of a benchmark run (`python -m benchmarks.workers.<name> ...`): each
does one job, says `READY` on stdout once it can be measured, and writes its result as JSON
to the file named by `--out`."""

import argparse
import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aio_pika
import orjson
from aio_pika.abc import AbstractIncomingMessage

READY = "READY"
T = TypeVar("T")


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when installed, as uvicorn runs the services."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def ready() -> None:
    print(READY, flush=True)


def write_result(path: Path, result: dict[str, Any]) -> None:
    path.write_bytes(orjson.dumps(result))


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, required=True, help="where to write the result")
    return parser


def amqp_parser(description: str) -> argparse.ArgumentParser:
    parser = base_parser(description)
    parser.add_argument("--url", required=True, help="AMQP URL, vhost included")
    parser.add_argument("--queue", required=True)
    parser.add_argument("--count", type=int, required=True, help="messages to take")
    parser.add_argument("--prefetch", type=int, default=256)
    parser.add_argument("--timeout", type=float, default=300.0)
    return parser


@asynccontextmanager
async def consuming(
    url: str,
    queue_name: str,
    prefetch: int,
    on_message: Callable[[AbstractIncomingMessage], Awaitable[None]],
) -> AsyncIterator[None]:
    """A bare aio-pika consumer of `queue_name` (manual acks, `prefetch` in flight), READY
    for the block; its connection closed after it."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        queue = await channel.get_queue(queue_name)
        await queue.consume(on_message)
        ready()
        yield
    finally:
        await connection.close()


QueueJob = Callable[[str, str, int, int, float], Coroutine[Any, Any, dict[str, Any]]]


def run_queue_job(job: QueueJob, description: str) -> None:
    """The `main` of a worker that takes `--count` messages from `--queue`: `job(url, queue,
    count, prefetch, timeout)` on the command line's arguments, its result written out."""
    args = amqp_parser(description).parse_args()
    job_done = job(args.url, args.queue, args.count, args.prefetch, args.timeout)
    write_result(args.out, run_async(job_done))


def read_result(path: Path) -> dict[str, Any]:
    result: dict[str, Any] = orjson.loads(path.read_bytes())
    return result
