"""The HTTP load generator: places orders with aiohttp, either closed loop (`--concurrency`
requests in flight, as fast as they are answered) or open loop (`--rate` orders/s sent on
schedule whatever the responses). Records, for every order, when it was sent, when it was
answered, the status and the order id; and its own CPU time, so a report can show it was
not the bottleneck."""

import asyncio
import time
from typing import Any

import aiohttp
import orjson

from benchmarks.events import order_body
from benchmarks.workers import base_parser, ready, run_async, write_result

Record = tuple[float, float, int, str | None]  # sent, answered, status, order id


class LoadGenerator:
    def __init__(self, url: str, count: int, skus: int, first: int) -> None:
        self.url = f"{url}/orders"
        self.bodies = [orjson.dumps(order_body(first + n, skus)) for n in range(count)]
        self.records: list[Record | None] = [None] * count
        self.lag_ms: list[float] = []

    async def send(self, http: aiohttp.ClientSession, n: int, sent: float) -> None:
        order_id: str | None = None
        try:
            async with http.post(
                self.url, data=self.bodies[n], headers={"content-type": "application/json"}
            ) as response:
                status = response.status
                payload = await response.read()
            if status == 202:
                order_id = orjson.loads(payload)["id"]
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        self.records[n] = (sent, time.time(), status, order_id)

    async def closed_loop(self, http: aiohttp.ClientSession, concurrency: int) -> None:
        next_order = iter(range(len(self.bodies)))

        async def client() -> None:
            for n in next_order:
                await self.send(http, n, time.time())

        await asyncio.gather(*(client() for _ in range(concurrency)))

    async def open_loop(self, http: aiohttp.ClientSession, rate: float) -> None:
        """Send order n at start + n/rate. Latency counts from the scheduled time, so a
        generator that falls behind cannot hide it (no coordinated omission); `lag_ms`
        says by how much it did."""
        loop = asyncio.get_running_loop()
        start, wall_start = loop.time(), time.time()
        tasks = []
        for n in range(len(self.bodies)):
            delay = start + n / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.lag_ms.append(max(0.0, -delay) * 1000)
            tasks.append(asyncio.create_task(self.send(http, n, wall_start + n / rate)))
        await asyncio.gather(*tasks)


async def generate(
    url: str, count: int, concurrency: int, rate: float | None, skus: int, first: int
) -> dict[str, Any]:
    generator = LoadGenerator(url, count, skus, first)
    # Open loop: no cap on connections, or a slow server would throttle the schedule.
    connector = aiohttp.TCPConnector(limit=0 if rate else concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        ready()
        cpu_start, wall_start = time.process_time(), time.monotonic()
        if rate:
            await generator.open_loop(http, rate)
        else:
            await generator.closed_loop(http, concurrency)
        cpu, wall = time.process_time() - cpu_start, time.monotonic() - wall_start
    return {
        "records": generator.records,
        "cpu_seconds": cpu,
        "wall_seconds": wall,
        "max_lag_ms": max(generator.lag_ms, default=0.0),
    }


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--url", required=True, help="the order service's base URL")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=float, default=None, help="orders/s (open loop)")
    parser.add_argument("--skus", type=int, default=50)
    parser.add_argument("--first", type=int, default=0, help="number of the first order")
    args = parser.parse_args()
    result = run_async(
        generate(args.url, args.count, args.concurrency, args.rate, args.skus, args.first)
    )
    write_result(args.out, result)


if __name__ == "__main__":
    main()
