"""`python -m <service>`: one process serving the HTTP API and running the consumers.

The listening socket is bound before anything else starts: a service that cannot serve
(its port is taken, say) says so in one line and exits with status 2 at once, instead of
starting its consumers and then failing to listen.

The server holds nothing for a client that does not use it: an idle connection is closed
after `HTTP_KEEP_ALIVE_TIMEOUT` seconds, a request must be sent whole within
`HTTP_READ_TIMEOUT` seconds (a connection that sends nothing, or its headers a byte at a
time, is closed), the request line and headers are limited to `HTTP_MAX_HEADER_BYTES`
(431 beyond; shared.process.http_protocol), and past `HTTP_MAX_CONNECTIONS` connections
requests get 503."""

import asyncio
import gc
import logging
import socket
import sys
from collections.abc import Callable
from typing import TypeVar

import uvicorn
from fastapi import FastAPI

from shared.persistence.migrations import SchemaBehind
from shared.process.http_protocol import bounded_httptools
from shared.process.logs import configure_logging
from shared.process.runtime import Runtime
from shared.process.settings import ServiceSettings

log = logging.getLogger(__name__)

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)

EXIT_CANNOT_LISTEN = 2
EXIT_SCHEMA_BEHIND = 3


def serve(settings: SettingsT, create_app: Callable[[SettingsT], FastAPI]) -> None:
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    try:
        listening = listen(settings.http_host, settings.http_port)
    except OSError as exc:
        log.critical(
            "%s service cannot listen on %s:%d: %s (is another process using the port? "
            "set HTTP_PORT to choose another)",
            settings.service_name,
            settings.http_host,
            settings.http_port,
            exc.strerror or exc,
        )
        sys.exit(EXIT_CANNOT_LISTEN)
    app = create_app(settings)
    prepare_schema(app)
    settle_garbage_collector()
    uvicorn.Server(server_config(settings, app)).run(sockets=[listening])


# Collections of the youngest generation: after this many more tracked objects made than
# freed (CPython's default, 700, is passed by a batch of deliveries in flight).
YOUNG_GENERATION_THRESHOLD = 10_000


def settle_garbage_collector() -> None:
    """Once the service is built: what it holds for its whole life (modules, the schemas'
    validators, the tables, the routes) is moved out of the cyclic garbage collector's sight
    (`gc.freeze`), and the youngest generation is collected less often. Measured here on the
    inventory service draining 20,000 events, before and after: the collector took 1.29 s
    of its 14.0 s of CPU (9%; eleven full collections of some 80 ms each went through every
    object it had built at start) and 0.08 s of 10.7 s. Reference counting frees what it
    always freed, frozen or not; only garbage in cycles waits longer, bounded by the
    threshold's count of objects. At an ordinary rate the collector took under 1% before
    and after."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, *gc.get_threshold()[1:])


def prepare_schema(app: FastAPI) -> None:
    """Build an empty database through the migrations, or refuse to start (status 3, one
    line saying what to run) when its schema is behind the code: before the server starts,
    so that nothing is consumed or served on a schema the code does not fit."""
    runtime = getattr(app.state, "host", None)
    if not isinstance(runtime, Runtime):
        return
    try:
        asyncio.run(runtime.prepare_schema())
    except SchemaBehind as exc:
        log.error("%s", exc)
        sys.exit(EXIT_SCHEMA_BEHIND)


def server_config(settings: ServiceSettings, app: FastAPI) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        loop="auto",
        http=bounded_httptools(
            max_head_bytes=settings.http_max_header_bytes,
            read_timeout=settings.http_read_timeout,
        ),
        ws="none",
        lifespan="on",
        timeout_graceful_shutdown=15,
        timeout_keep_alive=settings.http_keep_alive_timeout,
        limit_concurrency=settings.http_max_connections,
    )


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP said explicitly: asyncio sets TCP_NODELAY only on connections whose socket
    # says so, and without it every answer on a kept-alive connection waited some 40 ms for
    # the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock
