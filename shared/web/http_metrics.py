"""HTTP requests by route and status, and their duration (`http_requests_total`,
`http_request_duration_seconds`): a plain ASGI middleware, so it costs a dictionary lookup
and two clock reads per request. The route is the path template (`/orders/{order_id}`),
never the path itself: a client must not be able to make a time series per URL."""

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.telemetry.metrics import Metrics

UNMATCHED = "unmatched"


class HttpMetrics:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the app fails before it answers

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = _route_of(scope)
            method = scope["method"]
            self.metrics.http_requests.labels(method, route, str(status)).inc()
            self.metrics.http_seconds.labels(method, route).observe(time.perf_counter() - started)


def _route_of(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED
