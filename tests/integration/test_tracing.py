"""One trace per order: from POST /orders, through the outbox, the broker, inventory, the
outcome and both notifications, to the e-mail, exported over OTLP by real service
processes; the same when the order waited in the outbox while the broker was away; a
retried message shows each attempt, a dead-lettered one an error with its reason."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from inventory_service.config import InventorySettings
from shared.contract import events as contracts
from shared.contract.envelope import CloudEvent
from shared.contract.topology import INVENTORY_ORDER_EVENTS, ORDER_EVENTS
from shared.core.handlers import Event, PermanentError
from shared.messaging.declare import declare
from shared.persistence.unit_of_work import SqlUnitOfWork
from shared.telemetry.tracing import Tracing, headers_of, span_ids
from tests import factories
from tests.support.broker import BrokerProbe
from tests.support.mail import Mailbox, mail_server
from tests.support.otlp import ReceivedSpan, Receiver, otlp_receiver
from tests.support.polling import eventually
from tests.support.processes import ServiceProcess, stop_all
from tests.support.proxy import TcpProxy
from tests.support.services import inventory_runtime

PRODUCER, CONSUMER, SERVER, CLIENT = 4, 5, 2, 3  # OTLP span kinds


@pytest.fixture
def mailbox() -> Iterator[tuple[int, Mailbox]]:
    with mail_server() as server:
        yield server


@dataclass
class TracedSystem:
    urls: dict[str, str]
    spans: Receiver
    order_broker: TcpProxy  # the order service reaches the broker through it


@pytest.fixture
async def traced(
    broker_url: str, tmp_path: Path, mailbox: tuple[int, Mailbox]
) -> AsyncIterator[TracedSystem]:
    proxy = TcpProxy.for_url(broker_url)
    await proxy.start()
    with otlp_receiver() as (endpoint, receiver):
        tracing = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
        common = {"DATABASE_URL": "", "RETRY_DELAYS": "0.2,0.4", **tracing}
        settings = {
            "order": {**common, "AMQP_URL": proxy.url(broker_url)},
            "inventory": {**common, "AMQP_URL": broker_url},
            "notification": {
                **common,
                "AMQP_URL": broker_url,
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(mailbox[0]),
                "DISPATCH_RETRY_BASE_SECONDS": "0.2",
            },
        }
        services = []
        for name, env in settings.items():
            env["DATABASE_URL"] = f"sqlite:///{tmp_path / name}.db"
            services.append(ServiceProcess(name, env, tmp_path).start())
        try:
            await asyncio.gather(*(s.wait_ready() for s in services))
            yield TracedSystem({s.name: s.url for s in services}, receiver, proxy)
        finally:
            stop_all(services)
            await proxy.stop()
            for service in services:
                assert service.stopped_cleanly(), service.log()


async def place_and_settle(system: TracedSystem, *, broker_cut: bool = False) -> str:
    async with httpx.AsyncClient(timeout=10) as http:
        stocked = await http.put(f"{system.urls['inventory']}/stock/SKU-1", json={"available": 5})
        assert stocked.status_code == 200
        if broker_cut:
            system.order_broker.cut()
            await eventually(
                lambda: http.get(f"{system.urls['order']}/health/ready"),
                lambda r: r.status_code == 503,
                what="order service sees the broker gone",
            )
        placed = await http.post(
            f"{system.urls['order']}/orders",
            json={
                "customer_id": "c-1",
                "email": "ada@example.com",
                "items": [{"sku": "SKU-1", "quantity": 2}],
            },
        )
        assert placed.status_code == 202
        order_id = placed.json()["id"]
        if broker_cut:
            await asyncio.sleep(1.0)  # it waits in the outbox
            assert (await http.get(f"{system.urls['order']}/orders/{order_id}")).json()[
                "status"
            ] == "PENDING"
            system.order_broker.restore()
        await eventually(
            lambda: http.get(f"{system.urls['order']}/orders/{order_id}"),
            lambda r: r.json()["status"] == "CONFIRMED",
            timeout=60,
        )
        await eventually(
            lambda: http.get(f"{system.urls['notification']}/notifications?order_id={order_id}"),
            lambda r: {n["status"] for n in r.json()} == {"sent"} and len(r.json()) == 2,
            timeout=30,
        )
    return str(order_id)


def the(trace: list[ReceivedSpan], service: str, name: str) -> ReceivedSpan:
    found = [s for s in trace if s.service == service and s.name == name]
    assert len(found) == 1, (service, name, sorted((s.service, s.name) for s in trace))
    return found[0]


EXPECTED = [
    ("order", "POST /orders"),
    ("order", "publish order.events"),
    ("inventory", "process inventory.order-events"),
    ("inventory", "publish inventory.events"),
    ("order", "process order.inventory-events"),
    ("notification", "process notification.order-events"),
    ("notification", "process notification.inventory-events"),
    ("notification", "notify order-received"),
    ("notification", "notify order-confirmed"),
]


def assert_whole(trace: list[ReceivedSpan], everything: list[ReceivedSpan]) -> None:
    request = the(trace, "order", "POST /orders")
    placed = the(trace, "order", "publish order.events")
    reserve = the(trace, "inventory", "process inventory.order-events")
    outcome = the(trace, "inventory", "publish inventory.events")
    settle = the(trace, "order", "process order.inventory-events")
    received = the(trace, "notification", "process notification.order-events")
    confirmed = the(trace, "notification", "process notification.inventory-events")
    notified = [
        the(trace, "notification", f"notify {kind}")
        for kind in ("order-received", "order-confirmed")
    ]
    # The outbox hop: the publish continues the request, however late it happens.
    assert request.parent_id == ""
    assert placed.parent_id == request.span_id and placed.kind == PRODUCER
    # Each consumer continues the publish that carried its message; what it causes
    # continues its own span.
    assert reserve.parent_id == placed.span_id and reserve.kind == CONSUMER
    assert received.parent_id == placed.span_id
    assert outcome.parent_id == reserve.span_id
    assert settle.parent_id == outcome.span_id and confirmed.parent_id == outcome.span_id
    assert notified[0].parent_id == received.span_id
    assert notified[1].parent_id == confirmed.span_id
    smtp = [s for s in trace if s.name == "smtp send"]
    assert sorted(s.parent_id for s in smtp) == sorted(n.span_id for n in notified)
    assert all(s.kind == CLIENT for s in smtp)
    # Semantic conventions.
    assert placed.attributes["messaging.system"] == "rabbitmq"
    assert placed.attributes["messaging.destination.name"] == "order.events"
    assert placed.attributes["messaging.operation.type"] == "publish"
    assert reserve.attributes["messaging.operation.type"] == "process"
    assert reserve.attributes["messaging.destination.name"] == INVENTORY_ORDER_EVENTS.name
    assert reserve.attributes["messaging.message.id"] == placed.attributes["messaging.message.id"]
    # A lone message's transaction runs in its own span: no batch span links to it (a batch
    # of several is a span of its own: test_a_batch_is_a_transaction_span_linked_to_its_messages).
    assert not any((reserve.trace_id, reserve.span_id) in s.links for s in everything)


async def collected(system: TracedSystem) -> list[ReceivedSpan]:
    def whole() -> list[ReceivedSpan] | None:
        spans = system.spans.snapshot()
        roots = [s for s in spans if s.name == "POST /orders" and s.kind == SERVER]
        if not roots:
            return None
        trace = [s for s in spans if s.trace_id == roots[-1].trace_id]
        names = {(s.service, s.name) for s in trace}
        smtp = sum(s.name == "smtp send" for s in trace)
        return trace if all(n in names for n in EXPECTED) and smtp == 2 else None

    trace = await eventually(whole, lambda t: t is not None, timeout=30, what="the whole trace")
    assert trace is not None
    return trace


async def test_one_order_is_one_trace_from_the_request_to_the_email(
    traced: TracedSystem,
) -> None:
    await place_and_settle(traced)
    assert_whole(await collected(traced), traced.spans.snapshot())


async def test_the_trace_survives_the_outbox_while_the_broker_is_away(
    traced: TracedSystem,
) -> None:
    await place_and_settle(traced, broker_cut=True)
    assert_whole(await collected(traced), traced.spans.snapshot())


# --- in one process, with an in-memory exporter ---------------------------------------------


async def test_a_retried_message_shows_each_attempt_and_a_dead_letter_shows_its_reason(
    broker_url: str, tmp_path: Path
) -> None:
    calls: dict[str, int] = {}

    def flaky(event: Event[contracts.OrderPlacedV1], uow: SqlUnitOfWork) -> None:
        calls[event.id] = calls.get(event.id, 0) + 1
        if event.data.customer_id == "permanent":
            raise PermanentError("this order can never be handled")
        if calls[event.id] < 3:
            raise TimeoutError("slow downstream")

    exporter = InMemorySpanExporter()
    tracing = Tracing("inventory", exporter)  # flushed when the runtime stops
    runtime = inventory_runtime(
        InventorySettings(
            amqp_url=broker_url,
            database_url=f"sqlite:///{tmp_path}/inventory.db",
            retry_delays=(0.1, 0.2, 0.4),
        ),
        flaky,
        tracing,
    )
    # The messages come from a producer whose span we know.
    producer = TracerProvider().get_tracer("test")
    recovers = factories.order_placed([("SKU-1", 1)], customer_id="recovers")
    doomed = factories.order_placed([("SKU-1", 1)], customer_id="permanent")
    await runtime.start()
    try:
        async with BrokerProbe(broker_url) as probe:
            await eventually(runtime.readiness, lambda checks: all(checks.values()))
            parents = {}

            async def publish(event: CloudEvent) -> None:
                with producer.start_as_current_span("publish") as span:
                    parents[event.id] = span.get_span_context()
                    await probe.publish(
                        ORDER_EVENTS,
                        factories.body(event),
                        **factories.properties(event, **headers_of(span)),
                    )

            # One after the other: delivered together, the two would fail as a batch first
            # and then one by one, two calls of the handler in one attempt.
            await publish(recovers)
            await eventually(lambda: calls.get(recovers.id, 0), lambda n: n == 3)
            await publish(doomed)
            await probe.collect(INVENTORY_ORDER_EVENTS.dead_letter_queue, 1)

            def attempts_ended() -> int:
                # A span is exported once it ends (after its message is settled).
                assert tracing.provider is not None
                tracing.provider.force_flush()
                return sum(
                    1
                    for s in exporter.get_finished_spans()
                    if (s.attributes or {}).get("messaging.message.id") == recovers.id
                )

            await eventually(attempts_ended, lambda n: n == 3, what="three attempts ended")
    finally:
        await runtime.stop()

    spans = [s for s in exporter.get_finished_spans() if s.name.startswith("process ")]
    attempts = [
        s for s in spans if s.attributes and s.attributes["messaging.message.id"] == recovers.id
    ]
    assert len(attempts) == 3, "one span per attempt"
    parent = parents[recovers.id]
    for attempt in attempts:
        assert attempt.context.trace_id == parent.trace_id, "every attempt in the same trace"
        assert attempt.parent is not None and attempt.parent.span_id == parent.span_id
    assert [a.status.status_code.name for a in attempts] == ["ERROR", "ERROR", "UNSET"]
    assert [[e.name for e in a.events] for a in attempts] == [
        ["retry", "settle"],
        ["retry", "settle"],
        ["settle"],
    ], "each attempt: what became of it, then its settlement"
    (dead,) = [
        s for s in spans if s.attributes and s.attributes["messaging.message.id"] == doomed.id
    ]
    assert dead.status.status_code.name == "ERROR"
    assert "PermanentError: this order can never be handled" in (dead.status.description or "")
    assert [e.name for e in dead.events] == ["dead-letter", "settle"]


async def test_a_batch_is_a_transaction_span_linked_to_its_messages(
    broker_url: str, tmp_path: Path
) -> None:
    """Messages queued before the consumer starts arrive together and are applied in
    batches: each batch of several is one transaction span linked to each message's own
    process span, and is the current span while the handlers run; a message alone in its
    batch has its process span current instead."""
    current: dict[str, str] = {}

    def record(event: Event[contracts.OrderPlacedV1], uow: SqlUnitOfWork) -> None:
        current[event.id] = span_ids()["span_id"]

    exporter = InMemorySpanExporter()
    tracing = Tracing("inventory", exporter)
    settings = InventorySettings(amqp_url=broker_url, database_url=f"sqlite:///{tmp_path}/i.db")
    runtime = inventory_runtime(settings, record, tracing)
    events = [factories.order_placed([("SKU-1", 1)]) for _ in range(30)]
    async with BrokerProbe(broker_url) as probe:
        await declare(
            probe.channel,
            retry_delays=settings.retry_delays,
            queues=[INVENTORY_ORDER_EVENTS],
            streams=[],
        )
        for event in events:
            await probe.publish(ORDER_EVENTS, factories.body(event), **factories.properties(event))
    await runtime.start()
    try:
        await eventually(lambda: len(current), lambda n: n == len(events), timeout=30)
    finally:
        await runtime.stop()  # flushes the spans

    spans = exporter.get_finished_spans()
    process = {
        s.attributes["messaging.message.id"]: s
        for s in spans
        if s.name == f"process {INVENTORY_ORDER_EVENTS.name}" and s.attributes
    }
    assert set(process) == {e.id for e in events}, "one process span per message"
    by_span_id = {s.context.span_id: message_id for message_id, s in process.items()}
    batches = [s for s in spans if s.name == f"transaction {INVENTORY_ORDER_EVENTS.name}"]
    assert batches, "thirty messages arriving together make at least one batch"
    in_a_batch: dict[str, int] = {}
    for batch in batches:
        carried = [by_span_id[link.context.span_id] for link in batch.links]
        assert len(carried) >= 2, "a batch span only for a batch of several"
        assert batch.attributes and batch.attributes["messaging.batch.message_count"] == len(
            carried
        )
        for message_id in carried:
            assert message_id not in in_a_batch, "each message in one batch"
            in_a_batch[message_id] = batch.context.span_id
    for message_id, span in process.items():
        expected = in_a_batch.get(message_id, span.context.span_id)
        assert current[message_id] == f"{expected:016x}", "the handler ran in its transaction"
