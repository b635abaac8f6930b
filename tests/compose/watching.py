"""What watches the stack, as an operator reaches it on its published ports: Prometheus's
HTTP API (what it scrapes, the alerts it fires) and Jaeger's query API (the traces it was
sent). Every wait polls with a deadline."""

import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx

from tests.compose.clients import Json, get_json
from tests.support.polling import eventually_blocking

# Prometheus's jobs (docker/prometheus/prometheus.yml): the service each scrapes.
JOBS = {
    "order": "order_service",
    "inventory": "inventory_service",
    "notification": "notification_service",
}

# One order's spans, as the services name them (shared/telemetry/tracing.py): every hop from
# the request to both notifications, each once (the SMTP sends are counted apart).
ORDER_SPANS = [
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


class Prometheus:
    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=f"{url}/api/v1", timeout=10)

    def query(self, promql: str) -> list[Json]:
        """An instant vector: each sample's labels (`metric`) and value."""
        answer = get_json(self.client, "/query", query=promql)
        assert answer["status"] == "success", answer
        assert answer["data"]["resultType"] == "vector", answer
        result: list[Json] = answer["data"]["result"]
        return result

    def by_replica(self, promql: str) -> dict[tuple[str, str], float]:
        """The value of each sample, by (job, instance)."""
        return {
            (s["metric"]["job"], s["metric"]["instance"]): float(s["value"][1])
            for s in self.query(promql)
        }

    def alerts(self, state: str = "firing") -> list[dict[str, str]]:
        """The labels of every alert in `state` (pending or firing)."""
        answer = get_json(self.client, "/alerts")
        return [a["labels"] for a in answer["data"]["alerts"] if a["state"] == state]

    def rules(self) -> dict[str, list[str]]:
        """The rule groups Prometheus loaded: each group's alert names."""
        groups = get_json(self.client, "/rules")["data"]["groups"]
        return {g["name"]: [r["name"] for r in g["rules"]] for g in groups}

    def close(self) -> None:
        self.client.close()


def replicas_scraped(prometheus: Prometheus, replicas: dict[str, int]) -> dict[str, list[str]]:
    """Wait until Prometheus scrapes each service's number of replicas (1 unless given, by
    compose service name), every one of them up. Returns each job's instances."""
    wanted = {job: replicas.get(service, 1) for job, service in JOBS.items()}

    def up() -> dict[tuple[str, str], float]:
        return prometheus.by_replica(f'up{{job=~"{"|".join(JOBS)}"}}')

    def all_up(found: dict[tuple[str, str], float]) -> bool:
        counts = Counter(job for (job, _), value in found.items() if value == 1)
        return counts == wanted and all(value == 1 for value in found.values())

    found = eventually_blocking(
        up, all_up, timeout=60, interval=1, what=f"Prometheus scraping {wanted} replicas, all up"
    )
    instances: dict[str, list[str]] = {job: [] for job in JOBS}
    for job, instance in sorted(found):
        instances[job].append(instance)
    return instances


def from_every_replica(
    prometheus: Prometheus,
    promql: str,
    instances: dict[str, list[str]],
    accept: Any,
    what: str,
) -> dict[tuple[str, str], float]:
    """Wait until `promql` has a sample from every replica (by job and instance), each value
    accepted by `accept`. Returns them."""
    everyone = {(job, i) for job, found in instances.items() for i in found}

    def complete(found: dict[tuple[str, str], float]) -> bool:
        return found.keys() >= everyone and all(accept(found[r]) for r in everyone)

    found = eventually_blocking(
        lambda: prometheus.by_replica(promql), complete, timeout=60, interval=1, what=what
    )
    return {r: found[r] for r in sorted(everyone)}


class Jaeger:
    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=f"{url}/api", timeout=10)

    def traces_with(self, service: str, key: str, value: str) -> list[Json]:
        """Recent traces of `service` with a span tagged `key` = `value`. Jaeger filters by
        the tag itself; the result is checked here too, span by span."""
        now = time.time_ns() // 1000
        found = get_json(
            self.client,
            "/traces",
            service=service,
            tags=json.dumps({key: value}),
            start=now - 3600 * 1_000_000,  # the last hour, in microseconds
            end=now,
            limit=100,
        )["data"]
        return [
            t
            for t in found
            if any(
                tag["key"] == key and tag["value"] == value for s in t["spans"] for tag in s["tags"]
            )
        ]

    def trace(self, trace_id: str) -> Json:
        response = self.client.get(f"/traces/{trace_id}")
        if response.status_code == 404:
            return {"traceID": trace_id, "spans": [], "processes": {}}
        assert response.status_code == 200, (
            f"trace {trace_id}: {response.status_code} {response.text}"
        )
        (trace,) = response.json()["data"]
        trace_data: Json = trace
        return trace_data

    def close(self) -> None:
        self.client.close()


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    span_id: str
    parent_id: str  # "" for a root


def spans_of(trace: Json) -> list[Span]:
    """A trace as Jaeger returns it: each span with its service and its parent (CHILD_OF)."""
    services = {pid: p["serviceName"] for pid, p in trace["processes"].items()}
    return [
        Span(
            services[s["processID"]],
            s["operationName"],
            s["spanID"],
            next((r["spanID"] for r in s["references"] if r["refType"] == "CHILD_OF"), ""),
        )
        for s in sorted(trace["spans"], key=lambda s: s["startTime"])
    ]


def whole_order(spans: list[Span]) -> bool:
    """Every hop of an order is there, and the mail of both notifications."""
    names = Counter((s.service, s.name) for s in spans)
    return all(names[hop] >= 1 for hop in ORDER_SPANS) and names[("notification", "smtp send")] >= 2


def the(spans: list[Span], service: str, name: str) -> Span:
    found = [s for s in spans if (s.service, s.name) == (service, name)]
    assert len(found) == 1, (service, name, tree(spans))
    return found[0]


def tree(spans: list[Span]) -> str:
    """The spans as an indented tree, children under their parent, in start order (a span
    whose parent is not in the trace at the top)."""
    ids = {s.span_id for s in spans}
    lines: list[str] = []

    def add(level: list[Span], depth: int) -> None:
        for span in level:
            lines.append(f"{'  ' * depth}{span.service}: {span.name}")
            add([s for s in spans if s.parent_id == span.span_id], depth + 1)

    add([s for s in spans if s.parent_id not in ids], 0)
    return "\n".join(lines)
