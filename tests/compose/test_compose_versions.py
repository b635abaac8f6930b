"""The stack runs the versions .env names (RabbitMQ 4.0, PostgreSQL 17, the services on
Python 3.13), its broker warns of nothing deprecated but what is said below, the services'
image builds on the other Python too (3.11, the oldest the code supports), and the 3.10
broker, one variable away, still boots the stack's broker set-up: its users, permissions
and topology."""

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compose.clients import Management
from tests.compose.stack import ComposeStack
from tests.support.broker_container import deprecated_features
from tests.support.containers import prepare_images, run
from tests.support.polling import eventually_blocking
from tests.support.processes import ROOT

pytestmark = pytest.mark.timeout(600)

OTHER_PYTHON = "python:3.11-slim"
OTHER_BROKER = "rabbitmq:3.10-management"
# The management plugin's statistics (queue depths and rates in its UI and HTTP API) are a
# deprecated feature of RabbitMQ 4 (management_metrics_collection), on by default: the
# audit service's live page reads queue depths and consumers from that API, and people read
# them in the UI, so the stack keeps them (the test suites' broker runs without). RabbitMQ's
# way ahead is its Prometheus plugin. Any other deprecation fails.
DELIBERATE = {"management_metrics_collection"}
SERVICES_IMPORT = (
    "import sys, order_service.entrypoints.app, inventory_service.entrypoints.app, "
    "notification_service.entrypoints.app, audit_service.entrypoints.app; "
    "print('%d.%d' % sys.version_info[:2])"
)


def major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def test_the_stack_runs_the_versions_env_example_names(
    stack: ComposeStack, management: Management
) -> None:
    rabbitmq = management.get("/overview")["rabbitmq_version"]
    postgres = stack.compose(
        *("exec", "-T", "postgres", "psql", "-U", stack.settings["POSTGRES_USER"]),
        *("-tAc", "SHOW server_version"),
    ).strip()
    # The services' image, as built for the stack (its containers are stopped by now).
    image = stack.settings["APP_IMAGE"]
    python = run(["docker", "run", "--rm", image, "python", "-c", SERVICES_IMPORT], timeout=120)
    stack.journal.append(
        f"versions: RabbitMQ {rabbitmq}, PostgreSQL {postgres}, Python {python.strip()}"
    )
    assert major_minor(rabbitmq) == "4.0", stack.settings["RABBITMQ_IMAGE"]
    assert postgres.split(".")[0] == "17", stack.settings["POSTGRES_IMAGE"]
    assert python.strip() == "3.13", stack.settings["PYTHON_IMAGE"]


def test_the_broker_warns_of_no_deprecated_feature_but_the_management_statistics(
    stack: ComposeStack,
) -> None:
    """Its whole log, at the end of the compose run (this module runs after the others)."""
    named, unnamed = deprecated_features(stack.compose("logs", "--no-color", "rabbitmq"))
    stack.journal.append(f"broker's deprecation warnings: {sorted(named) or 'none'}")
    assert named <= DELIBERATE, named - DELIBERATE
    assert unnamed == []


def test_the_services_image_builds_on_the_oldest_python_the_code_supports(
    stack: ComposeStack,
) -> None:
    prepare_images([OTHER_PYTHON])
    tag = f"rabbit-orders:{stack.project}-py311"
    try:
        run(
            [
                *("docker", "build", "--quiet", "--build-arg", f"PYTHON_IMAGE={OTHER_PYTHON}"),
                *("--tag", tag, str(ROOT)),
            ],
            timeout=600,
        )
        python = run(["docker", "run", "--rm", tag, "python", "-c", SERVICES_IMPORT], timeout=120)
    finally:
        subprocess.run(["docker", "rmi", "--no-prune", tag], capture_output=True, timeout=60)
    assert python.strip() == "3.11"


@pytest.fixture
def broker_3_10() -> Iterator[ComposeStack]:
    """The stack's broker alone (and its set-up), on RABBITMQ_IMAGE=rabbitmq:3.10-management:
    a project of its own, the same env file otherwise."""
    prepare_images([OTHER_BROKER])
    workdir = Path(tempfile.mkdtemp(prefix="compose-3.10-"))
    other = ComposeStack(workdir)
    other.settings["RABBITMQ_IMAGE"] = OTHER_BROKER
    other.env_file.write_text("".join(f"{k}={v}\n" for k, v in other.settings.items()))
    try:
        yield other
    finally:
        other.compose("down", "--volumes", "--remove-orphans", "--timeout", "10", timeout=180)
        shutil.rmtree(workdir, ignore_errors=True)


def test_rabbitmq_3_10_is_one_variable_away(broker_3_10: ComposeStack) -> None:
    broker_3_10.compose("up", "-d", "rabbitmq", timeout=300)
    eventually_blocking(
        broker_3_10.containers,
        lambda found: any(c["service"] == "rabbitmq" and c["health"] == "healthy" for c in found),
        timeout=180,
        interval=2,
        what="the 3.10 broker healthy",
    )
    url = f"http://127.0.0.1:{broker_3_10.settings['RABBITMQ_MANAGEMENT_PORT']}"
    api = Management(url, "operator", broker_3_10.settings["RABBITMQ_OPERATOR_PASSWORD"])
    try:
        version = api.get("/overview")["rabbitmq_version"]
        queues = api.queues()
        users = {user["name"] for user in api.get("/users")}
    finally:
        api.close()
    assert major_minor(version) == "3.10"
    assert users == {"operator", "order", "inventory", "notification", "audit"}
    assert queues["inventory.order-events"]["arguments"]["x-delivery-limit"] == 20
    assert queues["inventory.order-events.dlq"]["arguments"]["x-delivery-limit"] == 2**31 - 1
    assert queues["audit.events"]["type"] == "stream"
