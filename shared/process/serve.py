"""`python -m <service>`: one process serving the HTTP API and running the consumers."""

from collections.abc import Callable
from typing import TypeVar

import uvicorn
from fastapi import FastAPI

from shared.process.logs import configure_logging
from shared.process.settings import ServiceSettings

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


def serve(settings: SettingsT, create_app: Callable[[SettingsT], FastAPI]) -> None:
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        loop="auto",
        lifespan="on",
        timeout_graceful_shutdown=15,
    )
