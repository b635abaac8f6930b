"""An OTLP/HTTP trace receiver for tests: services export to it as they would to Jaeger
or a collector (`OTEL_EXPORTER_OTLP_ENDPOINT`), and the test reads the spans back."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    attributes: dict[str, Any]
    links: list[tuple[str, str]]  # (trace id, span id)
    status_code: int  # 0 unset, 1 ok, 2 error
    status_message: str
    events: list[str] = field(default_factory=list)

    @property
    def is_error(self) -> bool:
        return self.status_code == 2


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


class Receiver:
    """What the services exported. Requests are kept as they came and decoded when asked
    for: decoding as they arrive would take CPU from the services on this small machine
    while the benchmark measures theirs (a collector runs elsewhere)."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self._received: list[bytes] = []
        self._lock = threading.Lock()

    def add(self, body: bytes) -> None:
        with self._lock:
            self._received.append(body)

    def snapshot(self) -> list[ReceivedSpan]:
        with self._lock:
            for body in self._received:
                self.spans.extend(_decoded(ExportTraceServiceRequest.FromString(body)))
            self._received.clear()
            return list(self.spans)


def _decoded(request: ExportTraceServiceRequest) -> list[ReceivedSpan]:
    received = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        service = str(resource.get("service.name", ""))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                received.append(
                    ReceivedSpan(
                        service=service,
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex(),
                        kind=span.kind,
                        attributes={a.key: _value(a.value) for a in span.attributes},
                        links=[(link.trace_id.hex(), link.span_id.hex()) for link in span.links],
                        status_code=span.status.code,
                        status_message=span.status.message,
                        events=[e.name for e in span.events],
                    )
                )
    return received


@contextmanager
def otlp_receiver() -> Iterator[tuple[str, Receiver]]:
    """(the endpoint to put in OTEL_EXPORTER_OTLP_ENDPOINT, what it received)."""
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver.add(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            reply = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", receiver
    finally:
        server.shutdown()
        server.server_close()
