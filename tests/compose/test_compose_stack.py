"""`docker compose up` for real: the stack built from this checkout, started, and used through
its published ports only; first one replica of each service, then two inventory and two
notification replicas competing for the same queues; then stopped with SIGTERM."""

import asyncio
import contextlib
import os
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.compose.amqp import BROKER_USERS
from tests.compose.checks import (
    EXCHANGES,
    QUEUES,
    assert_nothing_dead_lettered,
    assert_one_mail_per_sent_notification,
    assert_one_notification_per_kind,
    assert_stock,
    confirmed_quantity,
    count_without,
    describe,
    describe_notifications,
    seed,
)
from tests.compose.clients import (
    Json,
    Mailpit,
    Management,
    final_orders,
    get_json,
    place_orders,
)
from tests.compose.stack import (
    APP_SERVICES,
    COMPOSE_FILE,
    INFRASTRUCTURE,
    SETUP,
    ComposeStack,
    compose_command,
    read_env_file,
)
from tests.compose.watching import Prometheus, from_every_replica, replicas_scraped
from tests.support.polling import eventually_blocking
from tests.support.processes import ROOT

pytestmark = pytest.mark.timeout(600)

DATABASES = {  # service: its database (and owner role), and the variable of its password
    "order_service": ("orders", "ORDER_DB_PASSWORD"),
    "inventory_service": ("inventory", "INVENTORY_DB_PASSWORD"),
    "notification_service": ("notifications", "NOTIFICATION_DB_PASSWORD"),
    "audit_service": ("audit", "AUDIT_DB_PASSWORD"),
}


def sender(stack: ComposeStack) -> str:
    """The notification service's From address (SMTP_FROM; compose's default if unset)."""
    return stack.settings.get("SMTP_FROM") or "orders@example.com"


def replica(stack: ComposeStack, service: str, port: int, index: int = 1) -> httpx.Client:
    return httpx.Client(base_url=stack.url(service, port, index), timeout=10)


def test_without_an_env_file_compose_refuses_and_says_to_copy_env_example(
    docker_engine: float, tmp_path: Path
) -> None:
    example = read_env_file(ROOT / ".env.example")
    empty = tmp_path / "empty.env"
    empty.touch()
    result = subprocess.run(
        [*compose_command(), "--env-file", str(empty), "-f", str(COMPOSE_FILE), "config"],
        env={k: v for k, v in os.environ.items() if k not in example},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "cp .env.example .env" in result.stderr + result.stdout


def test_every_container_is_healthy_and_answers_on_its_published_port(
    stack: ComposeStack, orders: httpx.Client, management: Management, mailpit: Mailpit
) -> None:
    containers = stack.containers()
    setup = [c for c in containers if c["service"] in SETUP]
    running = [c for c in containers if c["service"] not in SETUP]
    assert sorted(c["service"] for c in setup) == sorted(SETUP), setup
    assert {(c["state"], c["exit_code"]) for c in setup} == {("exited", "0")}, setup
    assert {c["service"]: c["health"] for c in running} == dict.fromkeys(
        (*INFRASTRUCTURE, *APP_SERVICES), "healthy"
    )
    assert all(c["restarts"] == "0" for c in running), containers
    with (
        replica(stack, "inventory_service", 8001) as inventory,
        replica(stack, "notification_service", 8002) as notifications,
    ):
        for client in (orders, inventory, notifications):
            assert get_json(client, "/health/ready")["status"] == "ready"
            assert client.get("/admin/dead-letters").status_code == 401
            token = {"Authorization": f"Bearer {stack.settings['ADMIN_TOKEN']}"}
            assert client.get("/admin/dead-letters", headers=token).status_code == 200
    assert management.get("/overview")["product_name"] == "RabbitMQ"
    assert isinstance(mailpit.messages(), list)


def test_each_service_owns_its_database_and_reaches_no_other(stack: ComposeStack) -> None:
    port = int(stack.settings["POSTGRES_PORT"])

    async def tables(role: str, password: str, database: str) -> int:
        conn = await asyncpg.connect(
            host="127.0.0.1", port=port, user=role, password=password, database=database
        )
        try:
            query = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            return int(await conn.fetchval(query))
        finally:
            await conn.close()

    for database, password_variable in DATABASES.values():
        password = stack.settings[password_variable]
        assert asyncio.run(tables(database, password, database)) > 0, database
        for other, _ in DATABASES.values():
            if other != database:
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    asyncio.run(tables(database, password, other))


def test_broker_has_the_contract_topology_and_no_guest_user(
    stack: ComposeStack, management: Management
) -> None:
    for name in EXCHANGES:
        found = management.exchange(name)
        assert (found["type"], found["durable"]) == ("fanout", True), found
    queues = management.queues()
    for name, exchange in QUEUES.items():
        queue = queues[name]
        assert (queue["type"], queue["durable"]) == ("quorum", True), queue
        assert name in management.bound_queues(exchange)
        dead_letter_exchange = queue["arguments"]["x-dead-letter-exchange"]
        assert management.bound_queues(dead_letter_exchange) == {f"{name}.dlq"}
        assert queues[f"{name}.dlq"]["durable"] is True
        assert any(q.startswith(f"{name}.retry.") and q.endswith("ms") for q in queues), name
    eventually_blocking(
        management.queues,
        lambda found: all(found[name].get("consumers", 0) >= 1 for name in QUEUES),
        timeout=60,
        what="a consumer on every work queue",
    )
    guest = management.client.get("/whoami", auth=("guest", "guest"))
    assert guest.status_code == 401, guest.text
    assert {user["name"] for user in management.get("/users")} == set(BROKER_USERS)


def test_every_container_has_a_memory_limit(stack: ComposeStack) -> None:
    limits = stack.inspect("{{.HostConfig.Memory}}")
    assert limits.keys() == {c["name"] for c in stack.containers()}
    assert all(int(limit) > 0 for limit in limits.values()), limits


def test_orders_settle_with_exact_stock_one_notification_per_kind_and_its_mail(
    stack: ComposeStack, orders: httpx.Client, management: Management, mailpit: Mailpit
) -> None:
    mailpit.clear()
    run = uuid.uuid4().hex[:6]
    in_stock, sold_out, unknown = f"A-{run}", f"B-{run}", f"X-{run}"
    with contextlib.ExitStack() as clients:
        inventory = clients.enter_context(replica(stack, "inventory_service", 8001))
        notifications = clients.enter_context(replica(stack, "notification_service", 8002))
        seed(inventory, {in_stock: 5, sold_out: 0}, stack.settings["ADMIN_TOKEN"])
        finals, emails = place_single_replica_cases(orders, in_stock, sold_out, unknown, run)
        token = {"Authorization": f"Bearer {stack.settings['ADMIN_TOKEN']}"}
        listed = orders.get("/orders", params={"status": "CONFIRMED", "limit": 1000}, headers=token)
        assert listed.status_code == 200, listed.text
        confirmed = {i for i, order in finals.items() if order["status"] == "CONFIRMED"}
        assert {o["id"] for o in listed.json()} >= confirmed
        assert_stock(inventory, {in_stock: (1, 4), sold_out: (0, 0)})
        assert inventory.get(f"/stock/{unknown}").status_code == 404
        settled = assert_one_notification_per_kind(notifications, finals, emails)
    mails = assert_one_mail_per_sent_notification(mailpit, settled, emails, sender(stack))
    assert_nothing_dead_lettered(management)
    logged = assert_the_audit_log_shows_every_order(stack, finals)
    stack.journal.append(
        f"one replica each: placed {len(finals)} orders ({count_without(emails)} without "
        "e-mail), replayed 1 Idempotency-Key (same order back), reused it with another body "
        f"(409); saw {describe(finals)}; {in_stock} available 1 reserved 4, {sold_out} 0/0, "
        f"{unknown} 404; {describe_notifications(settled)}, one per (order, kind); "
        f"{mail_line(mails, sender(stack))}; DLQs empty; the audit log has their {logged} "
        "events, genuine, and its page shows each order"
    )


def assert_the_audit_log_shows_every_order(stack: ComposeStack, finals: dict[str, Json]) -> int:
    """The audit service read every order's events from the stream as the `audit` user, and
    its page shows each order and the queues as the management API reports them."""
    with httpx.Client(base_url=f"http://127.0.0.1:{stack.settings['AUDIT_PORT']}") as audit:

        def logged() -> dict[str, list[Json]]:
            return {i: get_json(audit, "/events", order_id=i) for i in finals}

        found = eventually_blocking(
            logged,
            lambda events: all(len(e) == 2 for e in events.values()),
            timeout=60,
            what="each order's two events in the audit log",
        )
        for events in found.values():
            assert [e["verdict"] for e in events] == ["genuine", "genuine"], events
            assert events[0]["type"] == "OrderPlaced", events
            assert len(events[0]["trace_id"] or "") == 32, "traced in compose"
        page = eventually_blocking(
            lambda: audit.get("/").text,
            lambda html: '<span class="source">management API</span>' in html,
            timeout=30,
            what="the page's health from the management API",
        )
        assert all(f'id="order-{order_id}"' in page for order_id in finals)
    return sum(len(events) for events in found.values())


def mail_line(mails: int, sender: str) -> str:
    return (
        f"{mails} mails in Mailpit, one per sent notification (Message-ID <notification "
        f"id@{sender.rpartition('@')[2]}>), none twice, none for the orders without e-mail"
    )


def place_single_replica_cases(
    orders: httpx.Client, in_stock: str, sold_out: str, unknown: str, run: str
) -> tuple[dict[str, Json], dict[str, str | None]]:
    """In stock, too many, sold out, unknown sku, partly unknown, two with no e-mail address,
    and an Idempotency-Key. Returns the final orders and each one's e-mail address."""

    def order(*items: tuple[str, int], email: bool = True) -> Json:
        lines = [{"sku": sku, "quantity": quantity} for sku, quantity in items]
        body: Json = {"customer_id": f"c-{run}", "items": lines}
        if email:
            body["email"] = f"c-{run}@example.com"
        return body

    # Outcomes that hold in any processing order: the confirmed ones fit in stock together.
    cases = [
        (order((in_stock, 2)), "CONFIRMED"),
        (order((in_stock, 6)), "REJECTED"),  # more than there ever is
        (order((sold_out, 1)), "REJECTED"),
        (order((unknown, 1)), "REJECTED"),
        (order((in_stock, 1), (unknown, 1)), "REJECTED"),  # all lines or none
        (order((in_stock, 1), email=False), "CONFIRMED"),  # notified, but not by e-mail
        (order((sold_out, 1), email=False), "REJECTED"),
    ]
    placed = place_orders(str(orders.base_url), [body for body, _ in cases])
    keyed_body = order((in_stock, 1))
    key = {"Idempotency-Key": f"key-{run}"}
    first = orders.post("/orders", json=keyed_body, headers=key)
    again = orders.post("/orders", json=keyed_body, headers=key)
    other_body = orders.post("/orders", json=order((in_stock, 2)), headers=key)
    assert (first.status_code, again.status_code, other_body.status_code) == (202, 202, 409)
    assert again.json()["id"] == first.json()["id"]

    expected = {o["id"]: status for o, (_, status) in zip(placed, cases, strict=True)}
    expected[first.json()["id"]] = "CONFIRMED"
    finals = final_orders(orders, expected)
    assert {i: o["status"] for i, o in finals.items()} == expected
    assert unknown in finals[placed[3]["id"]]["rejection_reason"]
    assert in_stock in finals[placed[1]["id"]]["rejection_reason"]
    emails = {o["id"]: body.get("email") for o, (body, _) in zip(placed, cases, strict=True)}
    emails[first.json()["id"]] = keyed_body["email"]
    return finals, emails


def test_two_replicas_of_each_consumer_never_oversell_nor_notify_nor_mail_twice(
    stack: ComposeStack,
    orders: httpx.Client,
    management: Management,
    mailpit: Mailpit,
    prometheus: Prometheus,
) -> None:
    scale = {"inventory_service": 2, "notification_service": 2}
    stack.compose(
        "up", "-d", "--no-recreate", *(f"--scale={s}={n}" for s, n in scale.items()), timeout=300
    )
    stack.wait_healthy(scale, timeout=180)
    consumers = {name: 2 for name in QUEUES} | {"order.inventory-events": 1}
    eventually_blocking(
        management.queues,
        lambda found: all(found[q].get("consumers") == n for q, n in consumers.items()),
        timeout=60,
        what=f"consumers per queue {consumers}",
    )

    mailpit.clear()
    run = uuid.uuid4().hex[:6]
    scarce, plenty = f"C-{run}", f"E-{run}"
    with contextlib.ExitStack() as clients:
        inventories = [
            clients.enter_context(replica(stack, "inventory_service", 8001, index))
            for index in (1, 2)
        ]
        notifications = [
            clients.enter_context(replica(stack, "notification_service", 8002, index))
            for index in (1, 2)
        ]
        finals, emails, settled = place_competing_orders(
            orders, inventories, notifications, scarce, plenty, stack.settings["ADMIN_TOKEN"]
        )
    mails = assert_one_mail_per_sent_notification(mailpit, settled, emails, sender(stack))
    assert_nothing_dead_lettered(management)
    scraped = assert_every_replica_scraped(prometheus, scale)
    stack.journal.append(
        f"two inventory + two notification replicas (consumers per queue {consumers}): "
        f"placed {len(finals)} orders ({count_without(emails)} without e-mail) for 20 units "
        f"of {scarce}, every other one also 2x {plenty}; saw {describe(finals)}; {scarce} "
        f"available 0 reserved 20, {plenty} reserved {confirmed_quantity(finals, plenty)}; "
        f"{describe_notifications(settled)}, one per (order, kind), read through both "
        f"notification replicas; {mail_line(mails, sender(stack))}; DLQs empty; {scraped}"
    )


def assert_every_replica_scraped(prometheus: Prometheus, scale: dict[str, int]) -> str:
    """Prometheus found the new replicas by itself (Docker's DNS) and scrapes each: every
    one is up and reports the consumers of its service's work queue, as many as replicas."""
    instances = replicas_scraped(prometheus, scale)
    work_queues = {
        "inventory": "inventory.order-events",
        "notification": "notification.order-events",
    }
    scaled = {job: instances[job] for job in work_queues}
    consumers = from_every_replica(
        prometheus,
        " or ".join(f'broker_queue_consumers{{queue="{q}"}}' for q in work_queues.values()),
        scaled,
        lambda count: count == 2,
        what="2 consumers on each scaled service's work queue, as each of its replicas says",
    )
    return (
        f"Prometheus scrapes all {sum(map(len, instances.values()))} service replicas, "
        f"each of the {len(consumers)} inventory and notification replicas reporting 2 "
        "consumers on its work queue"
    )


def place_competing_orders(
    orders: httpx.Client,
    inventories: list[httpx.Client],
    notifications: list[httpx.Client],
    scarce: str,
    plenty: str,
    admin_token: str,
) -> tuple[dict[str, Json], dict[str, str | None], dict[str, list[Json]]]:
    """40 orders, each wanting one of 20 scarce units: exactly 20 can be confirmed, whatever
    the order they are processed in and whichever replica takes them. Every fifth order has
    no e-mail address. Returns the final orders, their addresses and their notifications."""
    run = scarce.partition("-")[2]
    seed(inventories[0], {scarce: 20, plenty: 1000}, admin_token)
    addresses = [f"c{n}-{run}@example.com" if n % 5 else None for n in range(40)]
    bodies = [
        {
            "customer_id": f"c-{run}-{n}",
            "items": [{"sku": scarce, "quantity": 1}]
            + ([{"sku": plenty, "quantity": 2}] if n % 2 else []),
        }
        | ({"email": address} if address else {})
        for n, address in enumerate(addresses)
    ]
    placed = place_orders(str(orders.base_url), bodies)
    emails = {o["id"]: address for o, address in zip(placed, addresses, strict=True)}
    finals = final_orders(orders, [o["id"] for o in placed], timeout=120)

    assert Counter(o["status"] for o in finals.values()) == {"CONFIRMED": 20, "REJECTED": 20}
    plenty_reserved = confirmed_quantity(finals, plenty)
    for inventory in inventories:  # both replicas read the same stock
        assert_stock(
            inventory, {scarce: (0, 20), plenty: (1000 - plenty_reserved, plenty_reserved)}
        )
    halves = [dict(list(finals.items())[i::2]) for i in (0, 1)]
    settled: dict[str, list[Json]] = {}
    for client, half in zip(notifications, halves, strict=True):
        settled |= assert_one_notification_per_kind(client, half, emails)
    return finals, emails, settled


def test_services_stop_cleanly_on_sigterm(stack: ComposeStack) -> None:
    started = time.monotonic()
    stack.compose("stop", "--timeout=30", *APP_SERVICES, timeout=180)
    took = time.monotonic() - started
    stopped = [c for c in stack.containers() if c["service"] in APP_SERVICES]
    assert len(stopped) == 6  # order, audit, and two replicas each of inventory and notification
    assert all((c["state"], c["exit_code"]) == ("exited", "0") for c in stopped), stopped
    assert took < 30
    stack.journal.append(f"6 service containers stopped on SIGTERM in {took:.1f}s, all exit 0")
