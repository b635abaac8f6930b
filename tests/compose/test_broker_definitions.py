"""The broker's definitions in compose (docker/rabbitmq/definitions.template.json), read as
the broker reads them, without starting anything: the contract's topology exactly, and one
user per service allowed its own part of it only.

RabbitMQ matches a permission's regular expression against the name of the exchange or
queue an operation touches (the default exchange is `amq.default`): configure to declare or
delete it, write to publish to an exchange or bind a queue, read to consume or get from a
queue or bind from an exchange."""

import json
import re
from typing import Any

import pytest

from shared.contract.topology import EXCHANGES, QUEUES, STREAMS
from shared.process.settings import ServiceSettings
from tests.support.processes import ROOT

TEMPLATE = ROOT / "docker/rabbitmq/definitions.template.json"
DEFAULT_EXCHANGE = "amq.default"
# Each service's user: what it may configure, write and read, of all the names there are.
ALLOWED = {
    "order": (
        {"order.inventory-events"},
        {"order.events", "order.inventory-events.dlx", DEFAULT_EXCHANGE},
        {"order.inventory-events", "order.inventory-events.dlq"},
    ),
    "inventory": (
        {"inventory.order-events"},
        {"inventory.events", "inventory.order-events.dlx", DEFAULT_EXCHANGE},
        {"inventory.order-events", "inventory.order-events.dlq"},
    ),
    "audit": (set(), set(), {"audit.events"}),  # the event log, read only
    "notification": (
        {"notification.order-events", "notification.inventory-events"},
        {
            "notification.order-events.dlx",
            "notification.inventory-events.dlx",
            DEFAULT_EXCHANGE,
        },
        {
            "notification.order-events",
            "notification.order-events.dlq",
            "notification.inventory-events",
            "notification.inventory-events.dlq",
        },
    ),
}


@pytest.fixture(scope="module")
def definitions() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(TEMPLATE.read_text())
    return loaded


def contract_topology() -> tuple[dict[str, str], dict[str, dict[str, Any]], set[tuple[str, str]]]:
    """Exchanges (name: type), queues (name: arguments) and bindings (exchange, queue) that
    `shared.messaging.declare` makes with the services' default retry delays and stream
    retention (AUDIT_STREAM_* unset, as in compose)."""
    delays = ServiceSettings.model_fields["retry_delays"].default
    dead_letter_exchanges = (spec.dead_letter_exchange for spec in QUEUES)
    exchanges = dict.fromkeys((*EXCHANGES, *dead_letter_exchanges), "fanout")
    queues: dict[str, dict[str, Any]] = {}
    bindings = set()
    for spec in QUEUES:
        queues[spec.name] = spec.arguments()
        queues[spec.dead_letter_queue] = spec.dead_letter_arguments()
        queues |= {spec.retry_queue(delay): spec.retry_arguments(delay) for delay in delays}
        bindings.add((spec.exchange, spec.name))
        bindings.add((spec.dead_letter_exchange, spec.dead_letter_queue))
    for stream in STREAMS:
        queues[stream.name] = stream.arguments()
        bindings |= {(exchange, stream.name) for exchange in stream.exchanges}
    return exchanges, queues, bindings


def test_the_definitions_hold_the_contract_topology_exactly(definitions: dict[str, Any]) -> None:
    exchanges, queues, bindings = contract_topology()
    assert {e["name"]: e["type"] for e in definitions["exchanges"]} == exchanges
    assert all(e["durable"] and not e["auto_delete"] for e in definitions["exchanges"])
    assert {q["name"]: q["arguments"] for q in definitions["queues"]} == queues, (
        "docker/rabbitmq/definitions.template.json differs from shared.contract.topology"
    )
    assert all(q["durable"] and not q["auto_delete"] for q in definitions["queues"])
    assert {(b["source"], b["destination"]) for b in definitions["bindings"]} == bindings
    assert {b["destination_type"] for b in definitions["bindings"]} == {"queue"}
    assert [v["name"] for v in definitions["vhosts"]] == ["/"]


def test_each_service_user_may_touch_its_own_exchange_and_queues_only(
    definitions: dict[str, Any],
) -> None:
    exchanges, queues, _ = contract_topology()
    names = {*exchanges, *queues, DEFAULT_EXCHANGE}
    permissions = {p["user"]: p for p in definitions["permissions"]}
    for user, (configure, write, read) in ALLOWED.items():
        granted = permissions[user]
        assert granted["vhost"] == "/"
        for kind, allowed in (("configure", configure), ("write", write), ("read", read)):
            matched = {name for name in names if re.search(granted[kind], name)}
            assert matched == allowed, (user, kind, granted[kind])


def test_only_the_operator_is_an_administrator_and_no_password_is_written_down(
    definitions: dict[str, Any],
) -> None:
    users = {u["name"]: u for u in definitions["users"]}
    assert {name: u["tags"] for name, u in users.items()} == {
        "operator": ["administrator"],
        "order": [],
        "inventory": [],
        "notification": [],
        "audit": ["management"],  # queue depths in the management API, no administration
    }
    # docker/rabbitmq/setup.sh puts each hash in, made from the password in .env.
    for name, user in users.items():
        assert user["password_hash"] == f"@{name.upper()}_PASSWORD_HASH@", user
        assert user["hashing_algorithm"] == "rabbit_password_hashing_sha256"
        assert "password" not in user
    assert {p["user"] for p in definitions["permissions"]} == set(users)
    operator = next(p for p in definitions["permissions"] if p["user"] == "operator")
    assert (operator["configure"], operator["write"], operator["read"]) == (".*", ".*", ".*")
