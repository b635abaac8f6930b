"""What a user of the stack reaches: the services' HTTP APIs and RabbitMQ's management API,
on their published ports. Every wait polls with a deadline."""

import asyncio
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import httpx

from tests.support.polling import eventually_blocking

Json = dict[str, Any]
FINAL = ("CONFIRMED", "REJECTED")


def get_json(client: httpx.Client, path: str, **params: Any) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
    return response.json()


def place_orders(order_url: str, bodies: list[Json], concurrency: int = 8) -> list[Json]:
    """POST every body to /orders, `concurrency` at a time; each must be accepted (202)."""

    async def place_all() -> list[Json]:
        limit = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(base_url=order_url, timeout=30) as client:

            async def place(body: Json) -> Json:
                async with limit:
                    response = await client.post("/orders", json=body)
                assert response.status_code == 202, f"{body}: {response.text}"
                order: Json = response.json()
                return order

            return list(await asyncio.gather(*(place(body) for body in bodies)))

    return asyncio.run(place_all())


def final_orders(orders: httpx.Client, ids: Iterable[str], timeout: float = 90) -> dict[str, Json]:
    """Each order as GET /orders/{id} shows it once it is CONFIRMED or REJECTED."""
    done: dict[str, Json] = {}
    pending = list(ids)

    def settle() -> list[str]:
        for order_id in list(pending):
            order = get_json(orders, f"/orders/{order_id}")
            if order["status"] in FINAL:
                done[order_id] = order
                pending.remove(order_id)
        return pending

    eventually_blocking(settle, lambda left: not left, timeout=timeout, what="every order final")
    return done


class Management:
    """RabbitMQ's management HTTP API, vhost "/"."""

    def __init__(self, url: str, user: str, password: str) -> None:
        self.client = httpx.Client(base_url=f"{url}/api", auth=(user, password), timeout=10)

    def get(self, path: str) -> Any:
        return get_json(self.client, path)

    def exchange(self, name: str) -> Json:
        exchange: Json = self.get(f"/exchanges/%2F/{quote(name, safe='')}")
        return exchange

    def bound_queues(self, exchange: str) -> set[str]:
        bindings = self.get(f"/exchanges/%2F/{quote(exchange, safe='')}/bindings/source")
        return {b["destination"] for b in bindings if b["destination_type"] == "queue"}

    def queues(self) -> dict[str, Json]:
        return {q["name"]: q for q in self.get("/queues/%2F")}

    def publish_to_queue(self, queue: str, payload: str, **properties: Any) -> None:
        """Publish through the default exchange straight to `queue` (the operator may)."""
        body = {
            "routing_key": queue,
            "payload": payload,
            "payload_encoding": "string",
            "properties": {"delivery_mode": 2, **properties},
        }
        response = self.client.post("/exchanges/%2F/amq.default/publish", json=body)
        assert response.status_code == 200, f"publish to {queue}: {response.text}"
        assert response.json()["routed"] is True, f"nothing routed to {queue}"

    def close(self) -> None:
        self.client.close()


class Mailpit:
    """Mailpit's HTTP API v1: the mail the stack sent. A list is paginated (`start`, `limit`,
    newest first) and each message's summary carries `ID` (Mailpit's own, one per stored copy),
    `MessageID` (the Message-ID header without its angle brackets), `From`, `To`, `Subject`."""

    PAGE = 50  # Mailpit's default page size

    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=f"{url}/api/v1", timeout=10)

    def clear(self) -> None:
        """Delete every message (DELETE with no IDs), and see the mailbox empty."""
        response = self.client.delete("/messages")
        assert response.status_code == 200, f"DELETE /messages: {response.status_code}"
        eventually_blocking(
            self.messages, lambda found: not found, timeout=10, what="an empty mailbox"
        )

    def messages(self) -> list[Json]:
        """Every message in the mailbox, read page by page until `total` are in hand."""
        found: dict[str, Json] = {}
        while True:
            page = get_json(self.client, "/messages", start=len(found), limit=self.PAGE)
            new = {m["ID"]: m for m in page["messages"] if m["ID"] not in found}
            found.update(new)
            if not new or len(found) >= page["total"]:
                return list(found.values())

    def close(self) -> None:
        self.client.close()
