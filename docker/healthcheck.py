"""The image's HEALTHCHECK: healthy when the service in this container answers 200 on
GET /health/ready (its database, broker connection and consumers are all up).

The port is HTTP_PORT when it is set (docker-compose.yml sets it, and the check stays a
cheap urllib call). Otherwise it is the default port of the service that PID 1 runs
(`python -m <name>_service`), read from that service's settings class. Exit status 0
means healthy, 1 not.
"""

import importlib
import os
import sys
import urllib.request
from pathlib import Path


def service_port() -> int:
    if port := os.environ.get("HTTP_PORT"):
        return int(port)
    from shared.process.settings import (
        ServiceSettings,  # slow (pydantic): only when HTTP_PORT is unset
    )

    argv = Path("/proc/1/cmdline").read_bytes().split(b"\0")
    config = importlib.import_module(f"{argv[argv.index(b'-m') + 1].decode()}.config")
    (settings,) = {
        value
        for value in vars(config).values()
        if isinstance(value, type)
        and issubclass(value, ServiceSettings)
        and value is not ServiceSettings
    }
    return int(settings().http_port)


def main() -> int:
    url = f"http://127.0.0.1:{service_port()}/health/ready"
    try:
        with urllib.request.urlopen(url, timeout=4) as reply:
            print(reply.read().decode(errors="replace"))
    except Exception as exc:  # any failure, HTTP 503 included, means "not healthy"
        print(f"not ready: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
