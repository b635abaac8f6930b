"""The four services as processes (order, inventory, notification, and the audit service
that watches them), one broker vhost and a database each: what the audit service's tests
run against."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support.polling import eventually
from tests.support.processes import ServiceProcess, stop_all

DatabaseUrl = Callable[[str], Awaitable[str]]
FAST = {"RETRY_DELAYS": "0.2,0.5,1", "OUTBOX_POLL_INTERVAL": "0.5", "HEALTH_INTERVAL": "0.5"}


class Flow:
    def __init__(
        self,
        broker_url: str,
        database_urls: Mapping[str, str],
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        audit_env: Mapping[str, str] | None = None,
    ) -> None:
        self.broker_url = broker_url
        self.database_urls = dict(database_urls)
        self.log_dir = log_dir
        self.env = {**FAST, **(env or {})}
        self.audit_env = dict(audit_env or {})
        self.services: dict[str, ServiceProcess] = {}
        self.stopped: list[ServiceProcess] = []
        self.http = httpx.AsyncClient(timeout=15)

    def url(self, name: str) -> str:
        return self.services[name].url

    def spawn(self, name: str) -> ServiceProcess:
        settings = {
            "AMQP_URL": self.broker_url,
            "DATABASE_URL": self.database_urls[name],
            **self.env,
        }
        if name == "audit":
            settings |= {
                "ORDER_SERVICE_URL": self.url("order"),
                "INVENTORY_SERVICE_URL": self.url("inventory"),
                "NOTIFICATION_SERVICE_URL": self.url("notification"),
                **self.audit_env,
            }
        process = ServiceProcess(name, settings, self.log_dir).start()
        self.services[name] = process
        return process

    async def start(self) -> None:
        for name in ("order", "inventory", "notification"):
            self.spawn(name)
        self.spawn("audit")
        await asyncio.gather(*(s.wait_ready() for s in self.services.values()))

    async def stop_audit(self) -> None:
        old = self.services["audit"]
        await asyncio.to_thread(old.stop)
        self.stopped.append(old)
        assert old.stopped_cleanly(), old.log()

    async def start_audit(self, database_url: str | None = None) -> None:
        if database_url is not None:
            self.database_urls["audit"] = database_url
        await self.spawn("audit").wait_ready()

    async def status(self, order_id: str) -> str:
        response = await self.http.get(f"{self.url('order')}/orders/{order_id}")
        response.raise_for_status()
        return str(response.json()["status"])

    async def settled(self, order_id: str) -> None:
        await eventually(
            lambda: self.status(order_id),
            lambda status: status != "PENDING",
            what=f"order {order_id} settled",
        )

    async def stock(self, sku: str, available: int) -> None:
        response = await self.http.put(
            f"{self.url('inventory')}/stock/{sku}", json={"available": available}
        )
        response.raise_for_status()

    async def place(self, sku: str, quantity: int = 1, customer: str = "c-1") -> str:
        response = await self.http.post(
            f"{self.url('order')}/orders",
            json={"customer_id": customer, "items": [{"sku": sku, "quantity": quantity}]},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    async def events(self, order_id: str | None = None, limit: int = 1000) -> list[Any]:
        query = f"order_id={order_id}&limit={limit}" if order_id else f"limit={limit}"
        response = await self.http.get(f"{self.url('audit')}/events?{query}")
        response.raise_for_status()
        return list(response.json())

    async def events_until(
        self, order_id: str, done: Callable[[list[Any]], bool], what: str, timeout: float = 30
    ) -> list[Any]:
        return await eventually(
            lambda: self.events(order_id), done, timeout=timeout, what=what, interval=0.1
        )

    async def stop(self) -> None:
        await self.http.aclose()
        everyone = list(self.services.values())
        await asyncio.to_thread(stop_all, everyone)
        unclean = {s.name: s.why_not_stopped_cleanly() for s in everyone}
        unclean = {name: reasons for name, reasons in unclean.items() if reasons}
        assert not unclean, f"not stopped cleanly: {unclean}"

    def logs(self) -> str:
        return "\n".join(
            f"===== {s.name} ({s.port}) =====\n{s.log()}"
            for s in [*self.stopped, *self.services.values()]
        )


@asynccontextmanager
async def running_flow(
    broker_url: str,
    database_url: DatabaseUrl,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    audit_env: Mapping[str, str] | None = None,
) -> AsyncIterator[Flow]:
    urls = {n: await database_url(n) for n in ("order", "inventory", "notification", "audit")}
    flow = Flow(broker_url, urls, log_dir, env, audit_env)
    try:
        await flow.start()
        yield flow
    except BaseException:
        print(flow.logs()[-30000:])
        raise
    finally:
        await flow.stop()
