"""While the broker is unreachable the services keep answering: orders are accepted into
the outbox, readiness says what is wrong while liveness stays 200 (the process is fine),
and a stop request is honoured promptly."""

import time
from pathlib import Path

import httpx

from tests.support.broker import amqp_url, create_vhost, delete_vhost
from tests.support.polling import eventually
from tests.support.processes import ServiceProcess


async def test_services_keep_serving_and_stop_promptly_while_the_broker_is_unreachable(
    tmp_path: Path,
) -> None:
    vhost = create_vhost()
    services = [
        ServiceProcess(
            name,
            {
                "AMQP_URL": amqp_url(vhost),
                "DATABASE_URL": f"sqlite:///{tmp_path}/{name}.db",
            },
            tmp_path,
        ).start()
        for name in ("order", "inventory")
    ]
    order, inventory = services
    try:
        for service in services:
            await service.wait_ready()
        delete_vhost(vhost)  # every connection is closed, and reconnecting is refused

        async with httpx.AsyncClient(timeout=5) as http:
            ready = await eventually(
                lambda: http.get(f"{order.url}/health/ready"),
                lambda response: response.status_code == 503,
                what="order service reporting the broker down",
            )
            assert ready.json()["checks"]["broker"] is False
            assert ready.json()["checks"]["database"] is True
            for service in services:
                live = await http.get(f"{service.url}/health/live")
                assert (live.status_code, live.json()) == (200, {"status": "ok"}), (
                    f"{service.name}: alive while the broker is away (an orchestrator must "
                    "not restart it for that)"
                )
            placed = await http.post(
                f"{order.url}/orders",
                json={"customer_id": "c", "items": [{"sku": "SKU-1", "quantity": 1}]},
            )
            assert placed.status_code == 202, "accepted into the outbox"
            pending = await http.get(f"{order.url}/orders/{placed.json()['id']}")
            assert pending.json()["status"] == "PENDING"
            assert (await http.get(f"{inventory.url}/stock")).status_code == 200

        for service in services:
            started = time.monotonic()
            service.stop(timeout=30)
            assert time.monotonic() - started < 20, f"{service.name} took too long to stop"
            assert service.stopped_cleanly(), service.log()
    finally:
        for service in services:
            service.stop()
