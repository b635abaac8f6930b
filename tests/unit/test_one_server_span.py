"""A request is one server span, ours (shared.web.http_telemetry), even in a process with a
global tracer provider (one run under `opentelemetry-instrument`, say), where FastAPI's own
telemetry would otherwise add a server span and spans of its operations. Checked in a process
of its own: a global provider, once set, stays for the life of the process."""

import json
import textwrap

from tests.support.processes import python_output

SCRIPT = textwrap.dedent(
    """
    import asyncio, json
    import httpx
    from fastapi import APIRouter
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from shared.telemetry.metrics import Metrics
    from shared.web.app import create_service_app

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    router = APIRouter()

    @router.post("/orders/{order_id}", status_code=202)
    async def place(order_id: str) -> dict[str, str]:
        return {"id": order_id}

    class Host:
        async def start(self): ...
        async def stop(self): ...
        async def readiness(self): return {}

    async def main():
        app = create_service_app(
            Host(), [router], title="t", metrics=Metrics(), tracer=provider.get_tracer("ours")
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            assert (await client.post("/orders/abc")).status_code == 202
        spans = exporter.get_finished_spans()
        print(json.dumps([[s.name, s.instrumentation_scope.name] for s in spans]))

    asyncio.run(main())
    """
)


def test_a_request_is_one_server_span_even_with_a_global_tracer_provider() -> None:
    spans = json.loads(python_output(SCRIPT).strip().splitlines()[-1])

    assert spans == [["POST /orders/{order_id}", "ours"]]
