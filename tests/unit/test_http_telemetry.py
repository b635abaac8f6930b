"""The HTTP server span and counts of `shared.web.http_telemetry`, on a small app built by
the services' app factory, with the real OpenTelemetry SDK and an in-memory exporter."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from shared.telemetry.metrics import Metrics
from shared.telemetry.tracing import span_ids, trace_headers
from shared.web.app import create_service_app

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"

router = APIRouter()
seen: dict[str, Any] = {}


@router.post("/orders/{order_id}", status_code=202)
async def place(order_id: str) -> dict[str, str]:
    # What an order stages in its outbox is stamped with the request's span.
    seen["headers"] = trace_headers()
    seen["ids"] = span_ids()
    return {"id": order_id}


@router.get("/boom")
async def boom() -> None:
    raise RuntimeError("the handler failed")


class Host:
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def readiness(self) -> dict[str, bool]:
        return {}


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def client(exporter: InMemorySpanExporter) -> AsyncIterator[httpx.AsyncClient]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app: FastAPI = create_service_app(
        Host(), [router], title="t", metrics=Metrics(), tracer=provider.get_tracer("t")
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        yield client


def only(exporter: InMemorySpanExporter) -> ReadableSpan:
    (span,) = exporter.get_finished_spans()
    return span


async def test_a_request_is_a_server_span_named_by_its_route_that_its_work_continues(
    client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    answer = await client.post("/orders/abc")
    assert answer.status_code == 202
    span = only(exporter)
    assert span.name == "POST /orders/{order_id}", "the template, never the path"
    assert span.kind is SpanKind.SERVER
    assert span.parent is None
    assert dict(span.attributes or {}) == {
        "http.request.method": "POST",
        "url.path": "/orders/abc",
        "url.scheme": "http",
        "http.route": "/orders/{order_id}",
        "http.response.status_code": 202,
    }
    assert span.status.status_code is StatusCode.UNSET
    # The route ran inside the span: its outbox rows and log lines carry it.
    assert seen["ids"]["span_id"] == f"{span.context.span_id:016x}"
    assert seen["headers"]["traceparent"].split("-")[2] == f"{span.context.span_id:016x}"


async def test_a_callers_trace_context_is_continued(
    client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    await client.post("/orders/abc", headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"})
    span = only(exporter)
    assert f"{span.context.trace_id:032x}" == CALLER_TRACE
    assert span.parent is not None and f"{span.parent.span_id:016x}" == CALLER_SPAN


async def test_a_server_failure_is_an_error_span_and_a_client_error_is_not(
    client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    assert (await client.get("/boom")).status_code == 500
    failed = only(exporter)
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes is not None
    assert failed.attributes["http.response.status_code"] == 500
    assert [e.name for e in failed.events] == ["exception"]
    exporter.clear()
    assert (await client.post("/orders/abc/nothing-here")).status_code == 404
    unmatched = only(exporter)
    assert unmatched.name == "POST", "no route: the method alone, no path in the name"
    assert unmatched.status.status_code is StatusCode.UNSET


async def test_probes_and_scrapes_are_not_traced(
    client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    await client.get("/health/live")
    await client.get("/metrics")
    assert exporter.get_finished_spans() == ()


async def test_a_made_up_method_is_counted_and_traced_as_other_not_by_its_name(
    client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    # A client must not be able to make a time series (or a span name) per method it invents.
    for n in range(20):
        assert (await client.request(f"MADEUP{n}", "/orders/abc")).status_code == 405
    metrics = (await client.get("/metrics")).text

    assert "MADEUP" not in metrics
    assert 'http_requests_total{method="_OTHER",route="/orders/{order_id}",status="405"} 20.0' in (
        metrics
    )
    spans = exporter.get_finished_spans()
    assert {span.name for span in spans} == {"HTTP /orders/{order_id}"}
    assert spans[0].attributes is not None
    assert spans[0].attributes["http.request.method"] == "_OTHER"
    assert spans[0].attributes["http.request.method_original"] == "MADEUP0"
