"""Traces (OpenTelemetry): one unbroken trace per order, from the HTTP request to the
e-mail, across every asynchronous hop.

A service's spans are exported over OTLP when the standard `OTEL_EXPORTER_OTLP_ENDPOINT`
(or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, with the other `OTEL_*` variables
honoured by the SDK; with neither set, every tracer is a no-op and tracing costs next to
nothing. Each service has a tracer provider of its own (`service.name` = the service), so
several services started in one test process keep their names.

How the context crosses the hops (W3C trace context, `traceparent` and `tracestate`):
- an event staged in a unit of work stores the context it was staged in (the request's,
  or the span of the message that caused it) with its outbox row, however late the relay
  publishes it (`trace_headers`);
- the relay's publish span is a child of that stored context and is what the AMQP
  headers carry;
- a consumer's process span is a child of the context in the message's headers, also
  inside a batch (each message its own span; a batch of several a transaction span of its
  own with links to them, a lone message's transaction in its own span), and a retry or a
  replay keeps the headers, so every attempt joins the same trace;
- work recorded for later (a notification to send) stores its cause's context the same
  way, and the sender's span continues it.
"""

import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import INVALID_SPAN, Link, Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.contract import headers as h

PROPAGATOR = TraceContextTextMapPropagator()
TRACE_HEADERS = (h.TRACEPARENT, h.TRACESTATE)

# The trace context of each message being applied, by event id: what its effects (events
# it causes, notifications it records) are stamped with. Set around a batch's
# transaction by the consumer; read on the database thread (contexts travel there).
_causes: ContextVar[Mapping[str, Mapping[str, str]] | None] = ContextVar(
    "trace_causes", default=None
)

__all__ = ["INVALID_SPAN", "Link", "Span", "SpanKind", "Status", "StatusCode", "Tracing"]


def otlp_configured() -> bool:
    return (
        bool(
            os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
            or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        )
        and os.environ.get("OTEL_SDK_DISABLED", "").lower() != "true"
    )


class Tracing:
    """The tracer of one service."""

    def __init__(self, service: str, exporter: SpanExporter | None = None) -> None:
        self.service = service
        self.provider: TracerProvider | None = None
        if exporter is None and otlp_configured():
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            from shared.telemetry import otlp_encoding

            otlp_encoding.install()
            exporter = OTLPSpanExporter()
        if exporter is None:
            self.tracer: Tracer = trace.NoOpTracer()
            return
        self.provider = TracerProvider(resource=Resource.create({"service.name": service}))
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("shared")

    @property
    def enabled(self) -> bool:
        return self.provider is not None

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()  # flushes what is still queued


def trace_headers(cause: str | None = None) -> dict[str, str]:
    """The W3C headers of the context to continue: the cause's (an event being applied),
    else the current one. Empty when nothing is being traced."""
    if cause is not None and (known := _causes.get()) and (headers := known.get(cause)):
        return dict(headers)
    carrier: dict[str, str] = {}
    PROPAGATOR.inject(carrier)
    return carrier


def context_of(headers: Mapping[str, Any]) -> Context:
    """The context a message (or a stored row) carries in its headers."""
    carrier = {}
    for name in TRACE_HEADERS:  # two lookups, not a pass over every header
        if (value := headers.get(name)) is not None:
            carrier[name] = value.decode() if isinstance(value, bytes) else str(value)
    return PROPAGATOR.extract(carrier)


def headers_of(span: Span) -> dict[str, str]:
    carrier: dict[str, str] = {}
    PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
    return carrier


@contextmanager
def causes(by_event_id: Mapping[str, Mapping[str, str]]) -> Iterator[None]:
    """While in this block, `trace_headers(event_id)` gives that event's context."""
    token = _causes.set(by_event_id)
    try:
        yield
    finally:
        _causes.reset(token)


def within(span: Span) -> AbstractContextManager[Span]:
    """`span` is the current span in the block, which neither ends it nor marks it with an
    exception raised there (its owner says what became of the work)."""
    return trace.use_span(span, record_exception=False, set_status_on_exception=False)


def span_ids() -> dict[str, str]:
    """The current trace and span ids, for log lines; empty outside a span."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


def messaging_attributes(
    operation: str, destination: str, *, message_id: str | None = None, routing_key: str = ""
) -> dict[str, str]:
    """OpenTelemetry's messaging semantic conventions for RabbitMQ."""
    attributes = {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": operation,
        "messaging.operation.name": operation,
        "messaging.destination.name": destination,
    }
    if routing_key:  # the conventions ask for it only when not empty (a fanout's is)
        attributes["messaging.rabbitmq.destination.routing_key"] = routing_key
    if message_id is not None:
        attributes["messaging.message.id"] = message_id
    return attributes
