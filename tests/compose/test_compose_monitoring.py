"""What watches the compose stack, read through its published ports as an operator reads
it: Prometheus runs the checked configuration and rules, scrapes every replica, and fires
the dead-letter alert while a dead letter waits (and stops once it is purged); Jaeger
holds one order's whole trace, from the HTTP request to both e-mails, across the three
services. Runs before test_compose_security.py and test_compose_stack.py, one replica of
each service; the two-replica case is in test_compose_stack.py. Leaves the DLQs empty."""

import contextlib
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.compose.checks import assert_one_notification_per_kind, seed
from tests.compose.clients import Json, Management, final_orders, get_json
from tests.compose.stack import ComposeStack
from tests.compose.watching import (
    Jaeger,
    Prometheus,
    from_every_replica,
    replicas_scraped,
    spans_of,
    the,
    tree,
    whole_order,
)
from tests.support.polling import eventually_blocking

pytestmark = pytest.mark.timeout(300)

DEAD_LETTER_ALERT = "DeadLetterQueueNotEmpty"
ALERTS = {  # docker/prometheus/alerts.yml: each group's alerts, in order
    "messaging": [
        "DeadLetterQueueNotEmpty",
        "OutboxLagging",
        "WorkQueueWithoutConsumer",
        "CriticalTimeHigh",
    ],
    "services": ["ServiceReplicaDown", *["ServiceWithoutReplica"] * 3],
}


@pytest.fixture(scope="module")
def services(stack: ComposeStack) -> Iterator[dict[str, httpx.Client]]:
    """Each service's HTTP API (the first replica), with the admin token."""
    token = {"Authorization": f"Bearer {stack.settings['ADMIN_TOKEN']}"}
    ports = {"order_service": 8000, "inventory_service": 8001, "notification_service": 8002}
    with contextlib.ExitStack() as clients:
        yield {
            service: clients.enter_context(
                httpx.Client(base_url=stack.url(service, port), headers=token, timeout=30)
            )
            for service, port in ports.items()
        }


@pytest.fixture(scope="module")
def settled_order(services: dict[str, httpx.Client]) -> Json:
    """One order, CONFIRMED, both its notifications sent by e-mail."""
    run = uuid.uuid4().hex[:6]
    sku, email = f"T-{run}", f"c-{run}@example.com"
    token = services["inventory_service"].headers["Authorization"].removeprefix("Bearer ")
    seed(services["inventory_service"], {sku: 5}, token)
    placed = services["order_service"].post(
        "/orders",
        json={"customer_id": f"c-{run}", "email": email, "items": [{"sku": sku, "quantity": 2}]},
    )
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["id"]
    finals = final_orders(services["order_service"], [order_id])
    assert finals[order_id]["status"] == "CONFIRMED", finals
    assert_one_notification_per_kind(services["notification_service"], finals, {order_id: email})
    return finals[order_id]


def test_prometheus_runs_the_checked_configuration_and_alert_rules(
    stack: ComposeStack, prometheus: Prometheus
) -> None:
    """promtool, in the running Prometheus container, on the files it was started with:
    the configuration, the rules, and the rules' unit tests (docker/prometheus/check.sh)."""
    checked = stack.compose("exec", "-T", "prometheus", "sh", "/etc/prometheus/check.sh")
    assert "Unit Testing:  alerts.test.yml\n  SUCCESS" in checked, checked
    assert prometheus.rules() == ALERTS
    stack.journal.append(
        "promtool in the Prometheus container: config, rules and their unit tests pass; "
        f"loaded {sum(map(len, ALERTS.values()))} alerting rules"
    )


def test_one_order_is_one_trace_in_jaeger_across_the_three_services(
    stack: ComposeStack, jaeger: Jaeger, settled_order: Json
) -> None:
    order_id = settled_order["id"]

    def its_trace() -> list[Json]:
        return [
            jaeger.trace(t["traceID"])
            for t in jaeger.traces_with("notification", "order.id", order_id)
        ]

    # The services export in batches (every 5 s): wait for the last of them.
    traces = eventually_blocking(
        its_trace,
        lambda found: len(found) == 1 and whole_order(spans_of(found[0])),
        timeout=60,
        interval=1,
        what=f"the whole trace of order {order_id} in Jaeger",
    )
    spans = spans_of(traces[0])
    assert {s.service for s in spans} == {"order", "inventory", "notification"}
    request = the(spans, "order", "POST /orders")
    placed = the(spans, "order", "publish order.events")
    reserve = the(spans, "inventory", "process inventory.order-events")
    outcome = the(spans, "inventory", "publish inventory.events")
    settle = the(spans, "order", "process order.inventory-events")
    received = the(spans, "notification", "process notification.order-events")
    confirmed = the(spans, "notification", "process notification.inventory-events")
    notified = [
        the(spans, "notification", f"notify order-{kind}") for kind in ("received", "confirmed")
    ]
    # One unbroken chain: the outbox and broker hops continue the request.
    assert request.parent_id == "", tree(spans)
    assert placed.parent_id == request.span_id, tree(spans)
    assert reserve.parent_id == placed.span_id and received.parent_id == placed.span_id
    assert outcome.parent_id == reserve.span_id
    assert settle.parent_id == outcome.span_id and confirmed.parent_id == outcome.span_id
    assert [n.parent_id for n in notified] == [received.span_id, confirmed.span_id]
    smtp = sorted(s.parent_id for s in spans if s.name == "smtp send")
    assert smtp == sorted(n.span_id for n in notified), tree(spans)
    stack.journal.append(
        f"Jaeger: trace {traces[0]['traceID']} of order {order_id}, {len(spans)} spans:\n"
        + tree(spans)
    )


def test_prometheus_scrapes_every_replica_and_each_reports_its_work(
    stack: ComposeStack, prometheus: Prometheus, settled_order: Json
) -> None:
    instances = replicas_scraped(prometheus, {})
    consumed = from_every_replica(
        prometheus,
        "sum by (job, instance) (messages_consumed_total)",
        instances,
        lambda count: count >= 1,
        what="messages_consumed_total of every replica, after an order",
    )
    stack.journal.append(
        "Prometheus: every replica up (found through Docker's DNS); messages consumed "
        + ", ".join(f"{job} {instance} {count:g}" for (job, instance), count in consumed.items())
    )


def test_a_dead_letter_fires_its_alert_until_it_is_purged(
    stack: ComposeStack,
    management: Management,
    prometheus: Prometheus,
    services: dict[str, httpx.Client],
) -> None:
    queue, message_id = "inventory.order-events", f"poison-{uuid.uuid4().hex[:8]}"
    inventory = services["inventory_service"]
    assert not firing(prometheus, f"{queue}.dlq")
    # Not even an event, nor signed: dead-lettered at once.
    management.publish_to_queue(queue, "not an event", message_id=message_id)
    eventually_blocking(
        lambda: [d["message_id"] for d in get_json(inventory, f"/admin/dead-letters/{queue}")],
        lambda found: message_id in found,
        timeout=30,
        what=f"{message_id} in {queue}.dlq",
    )
    started = time.monotonic()
    (alert,) = eventually_blocking(
        lambda: firing(prometheus, f"{queue}.dlq"),
        lambda found: len(found) == 1,
        timeout=60,
        interval=1,
        what=f"{DEAD_LETTER_ALERT} firing for {queue}.dlq",
    )
    fired = time.monotonic() - started
    assert (alert["job"], alert["severity"]) == ("inventory", "warning"), alert

    purged = inventory.post(
        f"/admin/dead-letters/{queue}/purge", json={"message_ids": [message_id]}
    )
    assert purged.status_code == 200 and purged.json()["done"] == 1, purged.text
    started = time.monotonic()
    eventually_blocking(
        lambda: firing(prometheus, f"{queue}.dlq"),
        lambda found: not found,
        timeout=60,
        interval=1,
        what=f"{DEAD_LETTER_ALERT} resolved once {queue}.dlq is empty",
    )
    stack.journal.append(
        f"Prometheus: a message dead-lettered in {queue}.dlq fired {DEAD_LETTER_ALERT} "
        f"{fired:.1f}s after it got there; purged through the admin API, the alert "
        f"resolved {time.monotonic() - started:.1f}s later"
    )


def firing(prometheus: Prometheus, queue: str) -> list[dict[str, str]]:
    return [
        a
        for a in prometheus.alerts()
        if a["alertname"] == DEAD_LETTER_ALERT and a.get("queue") == queue
    ]
