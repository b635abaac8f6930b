"""`python -m <service>`: one process serving the HTTP API and running the consumers.

The listening socket is bound before anything else starts: a service that cannot serve
(its port is taken, say) says so in one line and exits with status 2 at once, instead of
starting its consumers and then failing to listen."""

import logging
import socket
import sys
from collections.abc import Callable
from typing import TypeVar

import uvicorn
from fastapi import FastAPI

from shared.process.logs import configure_logging
from shared.process.settings import ServiceSettings

log = logging.getLogger(__name__)

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)

EXIT_CANNOT_LISTEN = 2


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
    config = uvicorn.Config(
        create_app(settings),
        log_config=None,
        access_log=False,
        loop="auto",
        lifespan="on",
        timeout_graceful_shutdown=15,
    )
    uvicorn.Server(config).run(sockets=[listening])


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock
