"""Run a command (a test suite) against a RabbitMQ of its own, in a container:

    python -m tests.support.broker_container --image rabbitmq:4.0-management -- \\
        .venv/bin/pytest -q tests/integration tests/e2e tests/faults

The broker listens on free loopback ports (AMQP and its management API, picked by Docker);
the command gets TEST_AMQP_URL, TEST_RABBITMQ_MANAGEMENT_URL and TEST_RABBITMQ_CONTAINER
(tests.support.broker_control), so vhosts go through the management API and listings,
stop_app and start_app through `docker exec`. Afterwards the broker's log is kept (--log)
and read: a deprecation warning in it fails the run, whatever the command said, because
it names a feature the system or its tests use that a later RabbitMQ removes. The
container is removed in every case.

The broker runs without the management plugin's statistics
(`management_agent.disable_metrics_collector`): on RabbitMQ 4 collecting them is itself a
deprecated feature (`management_metrics_collection`), and nothing under test needs them.
"""

import argparse
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import FrameType

import httpx

from tests.support.containers import prepare_images, run
from tests.support.processes import ROOT

USER = "rabbit-orders"
CONFIG_TARGET = "/etc/rabbitmq/conf.d/90-rabbit-orders-tests.conf"
# RabbitMQ 4 logs "Deprecated features: `name`: Feature `name` is deprecated." (and
# 3.13 likewise) the first time a deprecated feature is used, at warning level.
DEPRECATION = re.compile(r"deprecat", re.IGNORECASE)


def config(password: str) -> str:
    return (
        "# Written by tests.support.broker_container for one test run.\n"
        f"default_user = {USER}\n"
        f"default_pass = {password}\n"
        "default_user_tags.administrator = true\n"
        "loopback_users = none\n"
        "# Statistics are a deprecated feature of RabbitMQ 4 (management_metrics_collection).\n"
        "management_agent.disable_metrics_collector = true\n"
    )


def deprecations(log: str) -> list[str]:
    """The lines of a broker log that warn of a deprecated feature."""
    return [line for line in log.splitlines() if DEPRECATION.search(line)]


def deprecated_features(log: str) -> tuple[set[str], list[str]]:
    """The deprecated features a broker log names, and its deprecation lines naming none."""
    named: set[str] = set()
    unnamed: list[str] = []
    for line in deprecations(log):
        found = re.findall(r"`([a-z_]+)`|deprecated_features\.permit\.([a-z_]+)", line)
        if found:
            named |= {quoted or permit for quoted, permit in found}
        else:
            unnamed.append(line)
    return named, unnamed


class BrokerContainer:
    def __init__(self, image: str, workdir: Path) -> None:
        self.image = image
        slug = re.sub(r"[^a-z0-9]+", "-", image.lower()).strip("-")
        self.name = f"rabbit-orders-test-{slug}-{uuid.uuid4().hex[:8]}"
        self.password = secrets.token_hex(12)
        self.config = workdir / "broker.conf"
        self.config.write_text(config(self.password))
        self.config.chmod(0o644)

    def start(self, timeout: float = 120) -> None:
        run(
            [
                *("docker", "run", "--detach", "--name", self.name),
                *("--publish", "127.0.0.1::5672", "--publish", "127.0.0.1::15672"),
                *("--volume", f"{self.config}:{CONFIG_TARGET}:ro"),
                self.image,
            ],
            timeout=120,
        )
        deadline = time.monotonic() + timeout
        while not self.accepts_connections():
            if not self.running():
                raise RuntimeError(f"{self.image} exited at start:\n{self.log()[-5000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.image} not up in {timeout:.0f}s:\n{self.log()[-5000:]}")
            time.sleep(1)

    def accepts_connections(self) -> bool:
        probe = ["docker", "exec", self.name, "rabbitmq-diagnostics", "-q"]
        checked = subprocess.run(
            [*probe, "check_port_connectivity"], capture_output=True, timeout=60, check=False
        )
        return checked.returncode == 0

    def running(self) -> bool:
        state = subprocess.run(
            ["docker", "inspect", "--format", "{{.State.Running}}", self.name],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return state.stdout.strip() == "true"

    def port(self, inside: int) -> int:
        published = run(["docker", "port", self.name, f"{inside}/tcp"]).splitlines()[0]
        return int(published.rsplit(":", 1)[1])

    def environment(self) -> dict[str, str]:
        return {
            "TEST_AMQP_URL": f"amqp://{USER}:{self.password}@127.0.0.1:{self.port(5672)}/",
            "TEST_RABBITMQ_MANAGEMENT_URL": f"http://127.0.0.1:{self.port(15672)}",
            "TEST_RABBITMQ_CONTAINER": self.name,
        }

    def version(self) -> str:
        url = self.environment()["TEST_RABBITMQ_MANAGEMENT_URL"]
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = httpx.get(f"{url}/api/overview", auth=(USER, self.password), timeout=5)
                if answer.status_code == 200:
                    return str(answer.json()["rabbitmq_version"])
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the management API of {self.name} does not answer")
            time.sleep(1)

    def log(self) -> str:
        logs = subprocess.run(
            ["docker", "logs", self.name], capture_output=True, text=True, timeout=60, check=False
        )
        return logs.stdout + logs.stderr

    def remove(self) -> None:
        subprocess.run(
            ["docker", "rm", "--force", "--volumes", self.name],
            capture_output=True,
            timeout=120,
            check=False,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default="rabbitmq:4.0-management")
    parser.add_argument("--log", type=Path, help="where to keep the broker's log")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command: -- pytest ...")
    slug = re.sub(r"[^a-z0-9]+", "-", args.image.lower()).strip("-")
    log_path: Path = args.log or ROOT / "var" / f"test-broker-{slug}.log"

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)  # so that the container is removed on the way out

    signal.signal(signal.SIGTERM, stop)
    prepare_images([args.image])
    with tempfile.TemporaryDirectory(prefix="test-broker-") as workdir:
        broker = BrokerContainer(args.image, Path(workdir))
        try:
            broker.start()
            version = broker.version()
            environment = broker.environment()
            print(
                f"RabbitMQ {version} ({args.image}) in container {broker.name}: "
                f"AMQP {environment['TEST_AMQP_URL'].rsplit('@', 1)[1]}, "
                f"management {environment['TEST_RABBITMQ_MANAGEMENT_URL']}",
                flush=True,
            )
            status = subprocess.run(command, env={**os.environ, **environment}, check=False)
            log = broker.log()
        finally:
            broker.remove()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text(log)
    warned = deprecations(log)
    print(f"RabbitMQ {version}: its log is in {log_path}; deprecation warnings: {len(warned)}")
    for line in warned:
        print(f"  {line}")
    if status.returncode != 0:
        return status.returncode
    return 1 if warned else 0


if __name__ == "__main__":
    sys.exit(main())
