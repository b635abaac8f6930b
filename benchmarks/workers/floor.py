"""The floor: bare aio-pika processes doing exactly the broker operations of one service,
and nothing else (no database, no validation, no signature check): what an order costs the
broker client itself. The same exchanges, quorum queues and arguments (declared by the
services' own code), the same prefetch, publisher confirms, persistent messages and manual
acks as the service whose role it plays:

- order: a trivial FastAPI `POST /orders` that answers 202 and publishes an OrderPlaced
  (with a confirm) to order.events; acks what comes on order.inventory-events;
- inventory: for each message on inventory.order-events, publishes a StockReserved (with a
  confirm) to inventory.events, then acks;
- notification: acks what comes on notification.order-events and
  notification.inventory-events.

Each writes how many messages it has taken so far to `--progress` (for the harness to
know when the orders are through)."""

import argparse
import asyncio
import uuid
from pathlib import Path

import aio_pika
import uvicorn
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel
from fastapi import FastAPI, Response

from benchmarks.events import order_placed, stock_reserved
from benchmarks.workers import ready
from shared.contract.topology import (
    INVENTORY_EVENTS,
    INVENTORY_ORDER_EVENTS,
    NOTIFICATION_INVENTORY_EVENTS,
    NOTIFICATION_ORDER_EVENTS,
    ORDER_EVENTS,
    ORDER_INVENTORY_EVENTS,
)
from shared.messaging.declare import declare

RETRY_DELAYS = (1.0, 5.0, 30.0)  # the services' default: the same retry queues declared


class Floor:
    def __init__(self, url: str, prefetch: int, progress: Path) -> None:
        self.url = url
        self.prefetch = prefetch
        self.progress = progress
        self.taken = 0
        self.publisher: AbstractRobustChannel | None = None

    async def connect(self) -> aio_pika.abc.AbstractRobustConnection:
        connection = await aio_pika.connect_robust(self.url)
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        await declare(channel, retry_delays=RETRY_DELAYS)
        self.publisher = channel
        return connection

    async def consume(
        self, connection: aio_pika.abc.AbstractRobustConnection, queue: str, on: object
    ) -> None:
        channel = await connection.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=self.prefetch)
        declared = await channel.get_queue(queue)
        await declared.consume(on)  # type: ignore[arg-type]

    async def publish(self, exchange: str, message: aio_pika.Message) -> None:
        assert self.publisher is not None
        target = await self.publisher.get_exchange(exchange, ensure=False)
        await target.publish(message, "", mandatory=True)

    async def ack(self, message: AbstractIncomingMessage) -> None:
        await message.ack()
        self.taken += 1

    async def report(self) -> None:
        while True:
            self.progress.write_text(str(self.taken))
            await asyncio.sleep(0.1)


async def run(role: str, url: str, prefetch: int, progress: Path, port: int) -> None:
    floor = Floor(url, prefetch, progress)
    connection = await floor.connect()
    reporter = asyncio.create_task(floor.report())
    if role == "order":
        await floor.consume(connection, ORDER_INVENTORY_EVENTS.name, floor.ack)
        app = FastAPI()
        pending: set[asyncio.Task[None]] = set()

        @app.post("/orders", status_code=202)
        async def place(response: Response) -> dict[str, str]:
            order_id = str(uuid.uuid4())
            # Published after the answer, as the service's relay does after its commit.
            task = asyncio.create_task(floor.publish(ORDER_EVENTS, order_placed(0, 50)))
            pending.add(task)
            task.add_done_callback(pending.discard)
            response.headers["Location"] = f"/orders/{order_id}"
            return {"id": order_id, "status": "PENDING"}

        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", access_log=False
        )
        server = uvicorn.Server(config)
        ready()
        await server.serve()
    else:
        if role == "inventory":

            async def reserve(message: AbstractIncomingMessage) -> None:
                await floor.publish(INVENTORY_EVENTS, stock_reserved())
                await floor.ack(message)

            await floor.consume(connection, INVENTORY_ORDER_EVENTS.name, reserve)
        else:
            for queue in (NOTIFICATION_ORDER_EVENTS, NOTIFICATION_INVENTORY_EVENTS):
                await floor.consume(connection, queue.name, floor.ack)
        ready()
        await asyncio.Event().wait()
    reporter.cancel()
    await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--role", choices=("order", "inventory", "notification"), required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--prefetch", type=int, default=256)
    parser.add_argument("--progress", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    import uvloop

    uvloop.run(run(args.role, args.url, args.prefetch, args.progress, args.port))


if __name__ == "__main__":
    main()
