"""The versions of the compose stack, read from the files without starting anything: the
broker's, the database's and the services' Python images are named once, in .env.example
(RABBITMQ_IMAGE, POSTGRES_IMAGE, PYTHON_IMAGE), and every part of the stack takes them from
there."""

import re
from typing import Any

import pytest
import yaml

from tests.compose.stack import COMPOSE_FILE, read_env_file
from tests.support.processes import ROOT

VERSIONS = {
    "RABBITMQ_IMAGE": "rabbitmq:4.0-management",
    "POSTGRES_IMAGE": "postgres:17",
    "PYTHON_IMAGE": "python:3.13-slim",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


def variable(reference: str) -> str:
    """The variable a `${NAME:?message}` reference names."""
    found = re.fullmatch(r"\$\{([A-Z_]+):\?[^}]+\}", reference)
    assert found, f"{reference} is not a required variable"
    return found.group(1)


def test_env_example_names_the_default_versions() -> None:
    settings = read_env_file(ROOT / ".env.example")
    assert {name: settings.get(name) for name in VERSIONS} == VERSIONS


def test_the_broker_the_database_and_the_services_take_their_image_from_env(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert variable(services["rabbitmq"]["image"]) == "RABBITMQ_IMAGE"
    # The broker's one-shot set-up runs in the broker's own image (its openssl, its user).
    assert variable(services["rabbitmq_setup"]["image"]) == "RABBITMQ_IMAGE"
    assert variable(services["postgres"]["image"]) == "POSTGRES_IMAGE"
    build = compose["x-service"]["build"]
    assert variable(build["args"]["PYTHON_IMAGE"]) == "PYTHON_IMAGE"
    for name in ("order_service", "inventory_service", "notification_service", "audit_service"):
        assert services[name]["build"] == build, name


def test_the_dockerfile_builds_on_the_python_image_it_is_given() -> None:
    """Built alone (`docker build .`), the same Python as compose's default."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"ARG PYTHON_IMAGE={VERSIONS['PYTHON_IMAGE']}\n" in dockerfile
    froms = [line for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert froms == ["FROM ${PYTHON_IMAGE}"]
