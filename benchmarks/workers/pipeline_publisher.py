"""The raw pipeline's publisher: persistent messages, publisher confirms, a bounded window
in flight, each body stamped with the time it was published."""

import time
from typing import Any

import aio_pika
import orjson

from benchmarks.events import order_placed
from benchmarks.publishing import publish_confirmed
from benchmarks.workers import base_parser, run_async, write_result


async def publish(
    url: str, exchange_name: str, count: int, in_flight: int, rate: float | None
) -> dict[str, Any]:
    # A body of the size and shape of a real OrderPlaced, plus the timestamp.
    event = orjson.loads(order_placed(0, 1).body)

    def message(n: int) -> aio_pika.Message:
        body = orjson.dumps({"sent_at": time.time(), "seq": n, "event": event})
        return aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)

    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.get_exchange(exchange_name)
        cpu = time.process_time()
        first, last = await publish_confirmed(
            exchange, message, count, in_flight=in_flight, rate=rate
        )
        cpu = time.process_time() - cpu
    finally:
        await connection.close()
    return {"first": first, "last": last, "cpu_seconds": cpu, "body_bytes": len(message(0).body)}


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--url", required=True)
    parser.add_argument("--exchange", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--in-flight", type=int, default=128)
    parser.add_argument("--rate", type=float, default=None, help="messages/s; default: flat out")
    args = parser.parse_args()
    result = run_async(publish(args.url, args.exchange, args.count, args.in_flight, args.rate))
    write_result(args.out, result)


if __name__ == "__main__":
    main()
