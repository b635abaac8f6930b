"""The image's HEALTHCHECK: healthy when the service in this container answers 200 on
GET /health/ready (its database, broker connection and consumers are all up).

Which service that is, is read from PID 1's command (`python -m <name>_service`), and its
port from that service's own settings class, so the check follows HTTP_PORT and each
service's default port alike. Exit status 0 means healthy, 1 unhealthy.
"""

import importlib
import sys
import urllib.request
from pathlib import Path

from shared.settings import ServiceSettings


def service_module() -> str:
    argv = Path("/proc/1/cmdline").read_bytes().split(b"\0")
    return argv[argv.index(b"-m") + 1].decode()


def service_settings(module: str) -> ServiceSettings:
    config = importlib.import_module(f"{module}.config")
    (settings_class,) = {
        value
        for value in vars(config).values()
        if isinstance(value, type)
        and issubclass(value, ServiceSettings)
        and value is not ServiceSettings
    }
    return settings_class()


def main() -> int:
    port = service_settings(service_module()).http_port
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=4) as reply:
            print(reply.read().decode(errors="replace"))
    except Exception as exc:  # any failure, HTTP 503 included, means "not healthy"
        print(f"not ready: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
