"""The broker side of the compose stack's security, tried from the host as a hostile client
would: AMQP over TLS only, one broker user per service allowed its own part of the topology
only, the AMQP user id checked by the broker, and forged events (unsigned, wrongly signed,
signed by a producer not allowed to publish them) changing nothing and dead-lettered as
untrusted. Runs before test_compose_stack.py and leaves the dead-letter queues empty."""

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import aio_pika
import httpx
import pytest
from aio_pika.abc import AbstractChannel

from shared.contract import headers as h
from shared.contract.events import (
    INVENTORY_SOURCE,
    ORDER_PLACED,
    ORDER_SOURCE,
    STOCK_RESERVED,
    OrderLine,
    OrderPlacedV1,
    StockReservedV1,
)
from shared.contract.signing import EventSigner
from shared.contract.topology import EXCHANGES, INVENTORY_EVENTS, ORDER_EVENTS, QUEUES
from tests.compose.amqp import BROKER_USERS, BrokerClient, forged
from tests.compose.checks import seed
from tests.compose.clients import Json, Mailpit, Management, get_json
from tests.compose.stack import ComposeStack
from tests.support.polling import eventually_blocking

pytestmark = pytest.mark.timeout(300)

# A service's connection (named `<service>-service@<host>:<pid>`) and its broker user.
SERVICE_USERS = {
    "order-service": "order",
    "inventory-service": "inventory",
    "notification-service": "notification",
}


@pytest.fixture(scope="module")
def broker(stack: ComposeStack, tmp_path_factory: pytest.TempPathFactory) -> BrokerClient:
    return BrokerClient(stack, tmp_path_factory.mktemp("broker"))


@pytest.fixture(scope="module")
def admin(stack: ComposeStack) -> Iterator[dict[str, httpx.Client]]:
    """Each service's HTTP API with the admin token: its dead-letter endpoints act through
    the service's own broker user."""
    token = {"Authorization": f"Bearer {stack.settings['ADMIN_TOKEN']}"}
    ports = {"order_service": 8000, "inventory_service": 8001, "notification_service": 8002}
    with contextlib.ExitStack() as clients:
        yield {
            service: clients.enter_context(
                httpx.Client(base_url=stack.url(service, port), headers=token, timeout=30)
            )
            for service, port in ports.items()
        }


def test_amqp_is_offered_over_tls_only_by_a_broker_whose_certificate_the_stack_ca_signed(
    stack: ComposeStack, broker: BrokerClient, management: Management
) -> None:
    assert broker.connection_failure(broker.url("inventory")) is None
    plain = broker.connection_failure(broker.url("inventory", tls=False))
    assert plain is not None, "plain AMQP was accepted on the published port"
    untrusted = broker.connection_failure(broker.url("inventory", trust_the_stack_ca=False))
    assert untrusted is not None and "CERTIFICATE_VERIFY_FAILED" in untrusted, untrusted

    ports = stack.inspect("{{json .NetworkSettings.Ports}}")
    (published,) = [p for name, p in ports.items() if name.endswith("_rabbitmq_1")]
    assert '"5671/tcp":[{' in published and '"5672/tcp":[{' not in published, published
    listeners = {listener["protocol"] for listener in management.get("/overview")["listeners"]}
    assert "amqp/ssl" in listeners and "amqp" not in listeners, listeners

    connections = eventually_blocking(
        lambda: management.get("/connections"),
        lambda found: {connection_service(c) for c in found} >= SERVICE_USERS.keys(),
        timeout=30,
        what="a connection from each service",
    )
    for connection in connections:
        service = connection_service(connection)
        if service in SERVICE_USERS:
            assert connection["ssl"] is True, connection
            assert connection["user"] == SERVICE_USERS[service], connection
    stack.journal.append(
        "broker: AMQP over TLS only (5672 not published, no amqp listener); plain AMQP and "
        "TLS without the stack's CA refused; every service connected over TLS as its own user"
    )


def connection_service(connection: Json) -> str:
    name = (connection.get("client_properties") or {}).get("connection_name") or ""
    return str(name).partition("@")[0]


def test_each_service_has_a_broker_user_of_its_own_allowed_its_own_part_only(
    stack: ComposeStack, broker: BrokerClient, management: Management
) -> None:
    users = {user["name"]: user["tags"] for user in management.get("/users")}
    assert users == {
        "operator": ["administrator"],
        "order": [],
        "inventory": [],
        "notification": [],
        "audit": ["management"],  # reads queue depths for its page; administers nothing
    }
    for user in SERVICE_USERS.values():  # not a management user: the operator is
        password = stack.settings[BROKER_USERS[user]]
        answer = management.client.get("/overview", auth=(user, password))
        assert answer.status_code == 401, (user, answer.status_code)

    async def publish_to_order_events(channel: AbstractChannel) -> None:
        exchange = await channel.get_exchange(ORDER_EVENTS, ensure=False)
        await exchange.publish(aio_pika.Message(b"{}"), routing_key="")

    def get_from(queue: str) -> Any:
        async def get(channel: AbstractChannel) -> None:
            found = await channel.get_queue(queue, ensure=True)
            await found.get(no_ack=False, fail=False)

        return get

    def declare(queue: str) -> Any:
        async def declare(channel: AbstractChannel) -> None:
            await channel.declare_queue(queue, durable=True, arguments={"x-queue-type": "quorum"})

        return declare

    async def publish_as_order(channel: AbstractChannel) -> None:
        exchange = await channel.get_exchange(INVENTORY_EVENTS, ensure=False)
        await exchange.publish(aio_pika.Message(b"{}", user_id="order"), routing_key="")

    refusals = {
        "publish to order.events": broker.refusal("inventory", publish_to_order_events),
        "get from order.inventory-events": broker.refusal(
            "inventory", get_from("order.inventory-events")
        ),
        "get from notification.order-events": broker.refusal(
            "inventory", get_from("notification.order-events")
        ),
        "get from order.inventory-events.dlq": broker.refusal(
            "inventory", get_from("order.inventory-events.dlq")
        ),
        "declare order.inventory-events": broker.refusal(
            "inventory", declare("order.inventory-events")
        ),
    }
    assert all(r and r.startswith("ACCESS_REFUSED") for r in refusals.values()), refusals
    spoofed = broker.refusal("inventory", publish_as_order)
    assert spoofed and spoofed.startswith("PRECONDITION_FAILED"), spoofed
    assert "user_id property set to 'order'" in spoofed, spoofed
    stack.journal.append(
        f"broker users {sorted(users)}, only the operator an administrator; the inventory "
        f"user refused: {', '.join(refusals)} (ACCESS_REFUSED), and a user_id of 'order' "
        "(PRECONDITION_FAILED)"
    )


def test_genuine_events_carry_their_producer_user_id_and_signature(
    stack: ComposeStack, broker: BrokerClient, orders: httpx.Client
) -> None:
    """A copy of each event, taken by the operator from both exchanges: the broker let each
    through only because its user_id named the connection's user."""
    tap = f"tap-{uuid.uuid4().hex[:8]}"

    async def bind_tap(channel: AbstractChannel) -> None:
        # Durable, deleted below: a transient queue that outlives its connection is a
        # deprecated feature of RabbitMQ 4 (transient_nonexcl_queues), refused from 4.3.
        queue = await channel.declare_queue(tap, durable=True, auto_delete=False)
        for exchange in EXCHANGES:
            await queue.bind(exchange)

    assert broker.refusal("operator", bind_tap) is None
    try:
        run = uuid.uuid4().hex[:6]
        body = {"customer_id": f"c-{run}", "items": [{"sku": f"X-{run}", "quantity": 1}]}
        placed = orders.post("/orders", json=body)
        assert placed.status_code == 202, placed.text
        order_id = placed.json()["id"]
        taken: dict[str, aio_pika.abc.AbstractIncomingMessage] = {}

        async def take(channel: AbstractChannel) -> None:
            queue = await channel.get_queue(tap, ensure=True)
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                if order_id.encode() in message.body:
                    taken[message.type or ""] = message

        eventually_blocking(
            lambda: broker.refusal("operator", take) or sorted(taken),
            lambda found: found == ["OrderPlaced", "StockRejected"],
            timeout=30,
            what=f"the events of order {order_id} on the tap queue",
        )
    finally:

        async def delete_tap(channel: AbstractChannel) -> None:
            await channel.queue_delete(tap)

        broker.refusal("operator", delete_tap)
    assert taken["OrderPlaced"].user_id == "order"
    assert taken["StockRejected"].user_id == "inventory"
    for message in taken.values():
        assert {h.SIGNATURE, h.SIGNATURE_KEY} <= set(message.headers or {}), message.headers


def test_forged_events_change_nothing_and_are_dead_lettered_as_untrusted(
    stack: ComposeStack,
    broker: BrokerClient,
    orders: httpx.Client,
    admin: dict[str, httpx.Client],
    mailpit: Mailpit,
) -> None:
    run = uuid.uuid4().hex[:6]
    sku, attacker = f"F-{run}", f"attacker-{run}@example.com"
    seed(admin["inventory_service"], {sku: 10}, stack.settings["ADMIN_TOKEN"])
    notifications = admin["notification_service"]
    try:
        # While the inventory service is paused, the order it would settle stays PENDING.
        with paused(stack, "inventory_service"):
            body = {"customer_id": f"c-{run}", "email": f"c-{run}@example.com"}
            placed = orders.post("/orders", json=body | {"items": [{"sku": sku, "quantity": 2}]})
            assert placed.status_code == 202, placed.text
            order_id = placed.json()["id"]
            made_up = OrderPlacedV1(
                order_id=uuid.uuid4(),
                customer_id=f"evil-{run}",
                email=attacker,
                items=[OrderLine(sku=sku, quantity=5)],
            )
            forgeries = forge(stack, broker, order_id, sku, made_up, run)
            # Every consumer that got them dead-letters them at once, saying why.
            for service, queue in DEAD_LETTER_QUEUES:
                if service != "inventory_service":
                    assert_dead_lettered(admin[service], queue, forgeries)
            assert get_json(orders, f"/orders/{order_id}")["status"] == "PENDING"
        assert_dead_lettered(admin["inventory_service"], "inventory.order-events", forgeries)

        settled = eventually_blocking(
            lambda: get_json(orders, f"/orders/{order_id}"),
            lambda order: order["status"] != "PENDING",
            timeout=30,
            what=f"order {order_id} settled by the genuine inventory service",
        )
        assert settled["status"] == "CONFIRMED", settled
        stock = get_json(admin["inventory_service"], f"/stock/{sku}")
        assert (stock["available"], stock["reserved"]) == (8, 2), stock
        kinds = eventually_blocking(
            lambda: sorted(
                n["kind"] for n in get_json(notifications, "/notifications", order_id=order_id)
            ),
            lambda found: "order-confirmed" in found,
            timeout=30,
            what=f"the notifications of order {order_id}",
        )
        assert kinds == ["order-confirmed", "order-received"]
        assert get_json(notifications, "/notifications", order_id=str(made_up.order_id)) == []
        assert not [m for m in mailpit.messages() if attacker in str(m["To"])]

        # A replayed forgery is no more trusted than it was: dead-lettered again.
        unsigned = next(i for i, why in forgeries[INVENTORY_EVENTS].items() if why == "unsigned")
        replayed = admin["order_service"].post(
            "/admin/dead-letters/order.inventory-events/replay", json={"message_ids": [unsigned]}
        )
        assert replayed.status_code == 200 and replayed.json()["done"] == 1, replayed.text
        eventually_blocking(
            lambda: replays(admin["order_service"], "order.inventory-events", unsigned),
            lambda found: found == [1],
            timeout=30,
            what="the replayed forgery dead-lettered again",
        )
        assert get_json(orders, f"/orders/{order_id}") == settled

        for service, queue in DEAD_LETTER_QUEUES:
            ids = list(forgeries[exchange_of(queue)])
            purged = admin[service].post(
                f"/admin/dead-letters/{queue}/purge", json={"message_ids": ids}
            )
            assert purged.status_code == 200 and purged.json()["done"] == len(ids), purged.text
    finally:
        # Docker counts the health checks it could not run while the container was paused.
        stack.wait_healthy({}, timeout=60)
    stack.journal.append(
        f"forged StockReserved for PENDING order {order_id} "
        f"({', '.join(forgeries[INVENTORY_EVENTS].values())}) and OrderPlaced for a made-up "
        f"order ({', '.join(forgeries[ORDER_EVENTS].values())}): the order settled by the "
        f"genuine event only ({settled['status']}), {sku} reserved 2 (not 7), no notification "
        "or mail for the made-up order; each in every consumer's DLQ as 'Untrusted: <why>'; "
        "a replayed forgery dead-lettered again; all purged through the services' admin API"
    )


@contextlib.contextmanager
def paused(stack: ComposeStack, service: str) -> Iterator[None]:
    stack.compose("pause", service)
    try:
        yield
    finally:
        stack.compose("unpause", service)


def forge(
    stack: ComposeStack,
    broker: BrokerClient,
    order_id: str,
    sku: str,
    made_up: OrderPlacedV1,
    run: str,
) -> dict[str, dict[str, str]]:
    """Publish, as a client with broker access would: StockReserved for `order_id`,
    unsigned, signed by a key claiming to be inventory's, and signed by the order service's
    genuine key (order may not publish it); OrderPlaced for a made-up order, unsigned and
    signed by a key nobody trusts. Returns the event ids by exchange, each with the reason
    it must be refused for."""
    genuine_order_key = EventSigner.parse(stack.settings["ORDER_EVENT_SIGNING_KEY"])
    inventory_key_id = stack.settings["INVENTORY_EVENT_SIGNING_KEY"].split(":")[1]
    reserved = StockReservedV1(order_id=uuid.UUID(order_id), items=[OrderLine(sku=sku, quantity=2)])
    stock_reserved = {  # why it is refused: (the broker user publishing it, its signer)
        "unsigned": ("inventory", None),  # with the inventory service's own broker password
        "bad signature": ("operator", EventSigner.generate("inventory", inventory_key_id)),
        "producer not allowed": ("operator", genuine_order_key),
    }
    order_placed = {
        "unsigned": ("order", None),  # with the order service's own broker password
        "unknown key": ("operator", EventSigner.generate("order", f"order-evil-{run}")),
    }
    forgeries: dict[str, dict[str, str]] = {INVENTORY_EVENTS: {}, ORDER_EVENTS: {}}
    for exchange, event_type, source, data, ways in (
        (INVENTORY_EVENTS, STOCK_RESERVED, INVENTORY_SOURCE, reserved, stock_reserved),
        (ORDER_EVENTS, ORDER_PLACED, ORDER_SOURCE, made_up, order_placed),
    ):
        for why, (user, signer) in ways.items():
            event, message = forged(
                event_type, source, data, exchange=exchange, signer=signer, user_id=user
            )
            broker.publish(user, exchange, [message])
            forgeries[exchange][event.id] = why
    return forgeries


DEAD_LETTER_QUEUES = (
    ("order_service", "order.inventory-events"),
    ("inventory_service", "inventory.order-events"),
    ("notification_service", "notification.order-events"),
    ("notification_service", "notification.inventory-events"),
)


def assert_dead_lettered(
    service: httpx.Client, queue: str, forgeries: dict[str, dict[str, str]]
) -> None:
    """Each forgery this queue got is in its DLQ, with the reason `Untrusted: <why>`."""
    expected = forgeries[exchange_of(queue)]

    def dead_letters() -> dict[str, str]:
        letters = get_json(service, f"/admin/dead-letters/{queue}", limit=1000)
        return {d["message_id"]: d["reason"] for d in letters if d["message_id"] in expected}

    found = eventually_blocking(
        dead_letters,
        lambda found: found.keys() == expected.keys(),
        timeout=30,
        what=f"the forged events in {queue}.dlq",
    )
    for message_id, why in expected.items():
        assert found[message_id].startswith(f"Untrusted: {why}"), (queue, why, found[message_id])


def exchange_of(queue: str) -> str:
    return next(spec.exchange for spec in QUEUES if spec.name == queue)


def replays(service: httpx.Client, queue: str, message_id: str) -> list[Any]:
    found = get_json(service, f"/admin/dead-letters/{queue}/{message_id}")
    return [letter["headers"].get(h.REPLAY_COUNT) for letter in found]
