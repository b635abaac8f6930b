"""Our OTLP span encoding (shared.telemetry.otlp_encoding) decodes to the very message the
SDK's own encoder makes, for every kind of span the services make and then some: remote
and local parents, roots, events, links, error status with a message, exceptions,
trace state, every attribute value type, dropped counts, two resources in one batch."""

from collections.abc import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, TraceState

from shared.telemetry import otlp_encoding
from shared.telemetry.tracing import context_of, headers_of, messaging_attributes

REMOTE = {
    "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "tracestate": "vendor=a1,other=b2",
}


def spans_of(service: str, limits: SpanLimits | None = None) -> Iterator[ReadableSpan]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": service}, schema_url="https://x/1.2"),
        span_limits=limits,
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("shared", "1.0", schema_url="https://x/1.1")
    remote = context_of(REMOTE)
    with tracer.start_as_current_span("POST /orders", kind=SpanKind.SERVER) as request:
        request.set_attribute("http.response.status_code", 202)
        publish = tracer.start_span(
            "publish order.events",
            kind=SpanKind.PRODUCER,
            attributes=messaging_attributes("publish", "order.events", message_id="m-1"),
        )
        publish.end()
    process = tracer.start_span(
        "process inventory.order-events",
        context=remote,
        kind=SpanKind.CONSUMER,
        attributes=messaging_attributes("process", "q", message_id="m-2", routing_key="rk"),
    )
    process.add_event("retry", {"reason": "TimeoutError: slow", "delay_s": 0.5, "attempt": 2})
    process.add_event("settle", {"messaging.operation.type": "settle", "ack": True})
    process.set_status(Status(StatusCode.ERROR, "dead-lettered: permanent"))
    process.end()
    with tracer.start_as_current_span(
        "transaction q",
        links=[Link(process.get_span_context()), Link(request.get_span_context(), {"n": 1})],
        attributes={"messaging.batch.message_count": 2},
    ) as batch:
        batch.set_attributes(
            {
                "negative": -7,
                "large": 2**62,
                "ratio": 0.25,
                "flags": [True, False],
                "names": ("a", "b"),
                "counts": [1, 2, 3],
                "empty": "",
                "unicode": "Grüße ✓",
            }
        )
        try:
            raise ValueError("broken")
        except ValueError as exc:
            batch.record_exception(exc)
        batch.set_status(Status(StatusCode.OK))
    stated = tracer.start_span(
        "with state",
        context=context_of({"traceparent": headers_of(process)["traceparent"]}),
    )
    stated.end()
    yield from exporter.get_finished_spans()
    assert TraceState  # the remote parent above carries a trace state


def decoded(data: bytes) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest.FromString(data)


def test_the_same_message_as_the_sdks_encoder() -> None:
    spans = list(spans_of("inventory"))
    assert len(spans) == 5
    ours = decoded(otlp_encoding.encode(spans))
    theirs = decoded(encode_spans(spans).SerializePartialToString())
    assert ours == theirs


def test_several_resources_and_dropped_counts() -> None:
    limits = SpanLimits(max_span_attributes=3, max_events=1, max_links=1, max_event_attributes=1)
    spans = [*spans_of("order", limits), *spans_of("notification")]
    ours = decoded(otlp_encoding.encode(spans))
    theirs = decoded(encode_spans(spans).SerializePartialToString())
    assert len(ours.resource_spans) == 2
    assert any(
        s.dropped_attributes_count for r in ours.resource_spans for s in r.scope_spans[0].spans
    )
    assert ours == theirs


@pytest.mark.parametrize("odd", [{"a": 1}, 2**64, -(2**63) - 1], ids=["mapping", "huge", "tiny"])
def test_what_it_does_not_write_goes_to_the_sdks_encoder(odd: object) -> None:
    (span, *_) = spans_of("order")
    span._attributes = {"odd": odd, "fine": 2**63 - 1}  # type: ignore[attr-defined]
    with pytest.raises(otlp_encoding.Unsupported):
        otlp_encoding.encode([span])
    assert otlp_encoding.encode_spans([span]).SerializePartialToString() == (
        encode_spans([span]).SerializePartialToString()
    )


def test_the_otlp_exporter_encodes_with_it() -> None:
    """Installed by a service that exports; an upgrade of the exporter that moved its
    encoder would fail here rather than quietly cost the old CPU."""
    from opentelemetry.exporter.otlp.proto.http import trace_exporter

    assert otlp_encoding.install()
    assert trace_exporter.encode_spans is otlp_encoding.encode_spans
    assert otlp_encoding.install(), "installing twice is harmless"
