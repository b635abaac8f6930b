"""The compose stack under test, driven through the compose CLI as a user drives it.

It runs under a project name of its own, with an env file of its own: `.env.example` as a
user would copy it, with fresh passwords and free host ports. It is reached only through
the ports it publishes on 127.0.0.1.
"""

import os
import secrets
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from tests.support.containers import container_tools as container_tools
from tests.support.containers import run as run
from tests.support.polling import eventually_blocking
from tests.support.processes import ROOT, free_port

COMPOSE_FILE = ROOT / "docker-compose.yml"
APP_SERVICES = ("order_service", "inventory_service", "notification_service", "audit_service")
INFRASTRUCTURE = ("rabbitmq", "postgres", "mailpit", "prometheus", "jaeger")
# One-shot: the broker's set-up runs before the broker, the migrations before the services.
SETUP = ("rabbitmq_setup", "migrate")
# Host ports the env file fixes; the scalable services' stay ephemeral, as in .env.example.
FIXED_PORTS = (
    "ORDER_PORT",
    "AUDIT_PORT",
    "RABBITMQ_AMQPS_PORT",
    "RABBITMQ_MANAGEMENT_PORT",
    "POSTGRES_PORT",
    "MAILPIT_PORT",
    "PROMETHEUS_PORT",
    "JAEGER_UI_PORT",
    "JAEGER_OTLP_PORT",
)


def compose_command() -> list[str]:
    """$COMPOSE (e.g. "docker compose"), else docker-compose, else the docker compose plugin."""
    if configured := os.environ.get("COMPOSE"):
        return configured.split()
    return ["docker-compose"] if shutil.which("docker-compose") else ["docker", "compose"]


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


class ComposeStack:
    def __init__(self, workdir: Path) -> None:
        self.project = f"composetest{uuid.uuid4().hex[:8]}"
        self.settings = read_env_file(ROOT / ".env.example")
        for name in self.settings:
            if name.endswith(("_PASSWORD", "_TOKEN")):
                self.settings[name] = secrets.token_hex(12)
        self.settings.update({name: str(free_port()) for name in FIXED_PORTS})
        # An image tag of its own: a concurrent run from another checkout cannot swap it.
        self.settings["APP_IMAGE"] = f"rabbit-orders:{self.project}"
        self.env_file = workdir / "compose.env"
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in self.settings.items()))
        # The env file decides: a variable of the same name in our own environment would win.
        self.environ = {k: v for k, v in os.environ.items() if k not in self.settings}
        self.timings: dict[str, float] = {}
        self.journal: list[str] = []
        self.saved_logs: str | None = None

    def compose(self, *args: str, timeout: float = 180) -> str:
        command = [*compose_command(), "--env-file", str(self.env_file), "-p", self.project]
        command += ["-f", str(COMPOSE_FILE), *args]
        return run(command, env=self.environ, cwd=ROOT, timeout=timeout)

    def timed(self, step: str, *args: str, timeout: float) -> str:
        started = time.monotonic()
        output = self.compose(*args, timeout=timeout)
        self.timings[step] = time.monotonic() - started
        return output

    def url(self, service: str, port: int, index: int = 1) -> str:
        published = self.compose("port", f"--index={index}", service, str(port)).strip()
        if not published:
            raise AssertionError(f"{service} #{index} publishes no port for {port}")
        return f"http://{published}"

    def container_ids(self) -> list[str]:
        return run(
            ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={self.project}"]
        ).split()

    def inspect(self, field: str) -> dict[str, str]:
        """One field (a `docker inspect --format` template) of every container, by name."""
        ids = self.container_ids()
        lines = run(["docker", "inspect", "--format", f"{{{{.Name}}}} {field}", *ids])
        return dict(line.split(" ", 1) for line in lines.splitlines() if line)

    def containers(self) -> list[dict[str, str]]:
        """Every container of the project: service, replica number, state, health, restarts."""
        ids = self.container_ids()
        if not ids:
            return []
        fields = (
            '{{index .Config.Labels "com.docker.compose.service"}} '
            '{{index .Config.Labels "com.docker.compose.container-number"}} {{.State.Status}} '
            "{{if .State.Health}}{{.State.Health.Status}}{{else}}-{{end}} {{.RestartCount}} "
            "{{.State.ExitCode}} {{.Name}}"
        )
        keys = ("service", "number", "state", "health", "restarts", "exit_code", "name")
        lines = run(["docker", "inspect", "--format", fields, *ids]).splitlines()
        return [dict(zip(keys, line.split(), strict=True)) for line in lines]

    def wait_healthy(self, replicas: dict[str, int], timeout: float) -> list[dict[str, str]]:
        """Poll until each service runs its number of replicas (1 unless given), all healthy."""
        wanted = {name: replicas.get(name, 1) for name in (*INFRASTRUCTURE, *APP_SERVICES)}

        def all_healthy(containers: list[dict[str, str]]) -> bool:
            healthy = [c["service"] for c in containers if c["health"] == "healthy"]
            return all(healthy.count(name) == n for name, n in wanted.items())

        return eventually_blocking(
            self.containers, all_healthy, timeout=timeout, interval=2, what="a healthy stack"
        )

    def logs(self) -> str:
        try:
            status = "\n".join(str(c) for c in self.containers())
            logs = self.compose("logs", "--no-color", "--timestamps", timeout=60)
        except Exception as exc:  # diagnostics must never hide the failure they explain
            return f"(could not read the logs: {exc!r})"
        return f"{status}\n{logs}"

    def diagnostics(self) -> str:
        """The logs kept when the stack failed to start, else the live ones."""
        return self.saved_logs if self.saved_logs is not None else self.logs()

    def down(self) -> None:
        # Everything is discarded, so no long grace period: the services stop in seconds, and
        # the rabbitmq and mailpit stand-ins ignore SIGTERM (they run as PID 1 with no handler).
        self.compose("down", "--volumes", "--remove-orphans", "--timeout", "10", timeout=180)
        # Only the tag goes: the layers under it stay as the next build's cache.
        subprocess.run(
            ["docker", "rmi", "--no-prune", self.settings["APP_IMAGE"]],
            capture_output=True,
            timeout=60,
        )
