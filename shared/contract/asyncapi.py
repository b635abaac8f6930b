"""The messaging contract as an AsyncAPI 3.0 document, made from the contract itself: the
exchanges, work queues, dead-letter and retry queues of `topology`, who publishes what
(`events.PRODUCER_OF`, `topology.EXCHANGE_OF`), who reads which queue for which versions
(`topology.SUBSCRIBERS`, held to the services' handlers by a unit test), each message's
CloudEvents envelope and AMQP headers, and the JSON Schema of every (type, version).

    python -m shared.contract.asyncapi            # writes docs/asyncapi.yaml, docs/asyncapi.md
                                                  # and docs/schemas/<Type>.v<version>.json
    python -m shared.contract.asyncapi --check    # exits 1, with a diff, if they are not
                                                  # what the code makes

Retry queues are listed for the default delays (`DEFAULT_RETRY_DELAYS`); a service's
RETRY_DELAYS names others."""

import argparse
import difflib
import json
import sys
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from shared.contract.asyncapi_components import (
    AMQP_BINDING,
    dead_letter_message,
    message_id,
    messages,
    published_to,
    ref,
    schemas,
)
from shared.contract.asyncapi_markdown import to_markdown
from shared.contract.envelope import CONTENT_TYPE
from shared.contract.events import PRODUCER_OF, SCHEMAS, EventData
from shared.contract.schemas import file_name, json_schema
from shared.contract.topology import (
    DEFAULT_RETRY_DELAYS,
    DELIVERY_LIMIT,
    EXCHANGE_OF,
    EXCHANGES,
    QUEUES,
    STREAM_READERS,
    STREAMS,
    SUBSCRIBERS,
    QueueSpec,
    StreamSpec,
    Subscriber,
)
from shared.contract.upcasting import UPCASTERS

ROOT = Path(__file__).resolve().parents[2]


def document(version: str) -> dict[str, Any]:
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Orders on RabbitMQ: the messaging contract",
            "version": version,
            "description": (
                "Generated from `shared.contract` by `python -m shared.contract.asyncapi`: "
                "do not edit. Every event is a CloudEvent 1.0 in structured JSON mode, "
                "signed by its producer, published persistent with publisher confirms to a "
                "durable fanout exchange, and read from durable quorum queues at least once "
                "(consumers deduplicate by event id). Readable view: docs/asyncapi.md."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "local": {
                "host": "localhost:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "`make run` (AMQP_URL)",
            },
            "compose": {
                "host": "localhost:5671",
                "protocol": "amqps",
                "protocolVersion": "0.9.1",
                "description": "`docker compose up`: TLS only, one broker user per service",
            },
        },
        "channels": channels(),
        "operations": operations(),
        "components": {"schemas": schemas(), "messages": messages()},
    }


# --- channels --------------------------------------------------------------------------------


def _messages_of(models: Sequence[type[EventData]]) -> dict[str, Any]:
    return {message_id(m): ref("components", "messages", message_id(m)) for m in models}


def accepted_by(subscriber: Subscriber) -> list[type[EventData]]:
    """The versions a subscriber applies: its handler's, and the older ones upcast to it."""
    accepted = []
    for event_type, handled in subscriber.handles.items():
        for model in SCHEMAS.models():
            if model.event_type == event_type and _upcasts(event_type, model.version, handled):
                accepted.append(model)
    return accepted


def _upcasts(event_type: str, version: str, to: str) -> bool:
    while version != to:
        if (event_type, version) not in UPCASTERS or int(version) > int(to):
            return False
        version = str(int(version) + 1)
    return True


def _exchange(name: str, kind: str = "fanout") -> dict[str, Any]:
    exchange = {"name": name, "type": kind, "durable": True, "autoDelete": False, "vhost": "/"}
    return {"amqp": {"is": "routingKey", "exchange": exchange, "bindingVersion": AMQP_BINDING}}


def _queue(name: str) -> dict[str, Any]:
    queue = {"name": name, "durable": True, "exclusive": False, "autoDelete": False, "vhost": "/"}
    return {"amqp": {"is": "queue", "queue": queue, "bindingVersion": AMQP_BINDING}}


def _carried_by(stream: StreamSpec) -> list[type[EventData]]:
    return [model for exchange in stream.exchanges for model in published_to(exchange)]


def _subscriber(spec: QueueSpec) -> Subscriber:
    (found,) = [s for s in SUBSCRIBERS if s.queue == spec]
    return found


def channels() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for exchange in EXCHANGES:
        bound = [q.name for q in QUEUES if q.exchange == exchange]
        bound += [s.name for s in STREAMS if exchange in s.exchanges]
        found[exchange] = {
            "address": exchange,
            "title": f"{exchange} (fanout exchange)",
            "description": (
                f"Bound to {', '.join(bound)}: each of them gets every message published here."
            ),
            "messages": _messages_of(published_to(exchange)),
            "bindings": _exchange(exchange),
            "x-bindings": [{"queue": queue, "routingKey": ""} for queue in bound],
        }
    for spec in QUEUES:
        subscriber = _subscriber(spec)
        retry_queues = [spec.retry_queue(delay) for delay in DEFAULT_RETRY_DELAYS]
        found[spec.name] = {
            "address": spec.name,
            "title": f"{spec.name} (quorum queue of the {subscriber.service} service)",
            "description": (
                f"Bound to {spec.exchange}. Its consumer acknowledges a message after the "
                "transaction that applied it commits. A failure is retried through the retry "
                f"queues ({', '.join(retry_queues)}), then dead-lettered to "
                f"{spec.dead_letter_queue}; a message that cannot be processed is "
                "dead-lettered at once, and one returned to it unacknowledged more than "
                f"{DELIVERY_LIMIT} times (its consumer dying or stopping with it) by the broker "
                "itself. An event type it has no handler for is acknowledged and skipped."
            ),
            "messages": _messages_of(published_to(spec.exchange)),
            "bindings": _queue(spec.name),
            "x-bound-to": [{"exchange": spec.exchange, "routingKey": ""}],
            "x-arguments": spec.arguments(),
            "x-dead-letter-queue": spec.dead_letter_queue,
            "x-retry-queues": retry_queues,
        }
        found[spec.dead_letter_exchange] = {
            "address": spec.dead_letter_exchange,
            "title": f"{spec.dead_letter_exchange} (fanout exchange: dead letters)",
            "description": f"{spec.name}'s dead letters; bound to {spec.dead_letter_queue}.",
            "messages": {"DeadLetter": ref("components", "messages", dead_letter_message(spec))},
            "bindings": _exchange(spec.dead_letter_exchange),
            "x-bindings": [{"queue": spec.dead_letter_queue, "routingKey": ""}],
        }
        found[spec.dead_letter_queue] = {
            "address": spec.dead_letter_queue,
            "title": f"{spec.dead_letter_queue} (quorum queue: dead letters)",
            "description": (
                f"{spec.name}'s dead letters, kept until replayed to {spec.name} or purged "
                "(the admin API's /admin/dead-letters, "
                "`python -m shared.process.dead_letter_cli`). "
                "Reading one returns it to the queue, which counts as a delivery: its delivery "
                "limit is one no reading reaches (RabbitMQ 4 would drop it after 20)."
            ),
            "messages": {"DeadLetter": ref("components", "messages", dead_letter_message(spec))},
            "bindings": _queue(spec.dead_letter_queue),
            "x-bound-to": [{"exchange": spec.dead_letter_exchange, "routingKey": ""}],
            "x-arguments": spec.dead_letter_arguments(),
        }
        for delay, name in zip(DEFAULT_RETRY_DELAYS, retry_queues, strict=True):
            found[name] = {
                "address": name,
                "title": f"{name} (quorum queue: retries after {delay:g} s)",
                "description": (
                    f"A failed message waits here for {delay:g} s (its TTL), then the broker "
                    f"dead-letters it back to {spec.name} through the default exchange. "
                    "Written to through the default exchange (routing key: the queue's name)."
                ),
                "messages": _messages_of(accepted_by(subscriber)),
                "bindings": _queue(name),
                "x-arguments": spec.retry_arguments(delay),
            }
    for stream in STREAMS:
        readers = " and ".join(f"the {reader} service" for reader in STREAM_READERS[stream.name])
        found[stream.name] = {
            "address": stream.name,
            "title": f"{stream.name} (stream: the event log)",
            "description": (
                f"Bound to {', '.join(stream.exchanges)}: every event published, in order, for "
                "as long as its retention keeps it (the defaults here; AUDIT_STREAM_MAX_AGE "
                "and AUDIT_STREAM_MAX_LENGTH_BYTES set it). Reading removes nothing: each "
                f"reader keeps its own offset. Read by {readers}."
            ),
            "messages": _messages_of(_carried_by(stream)),
            "bindings": _queue(stream.name),
            "x-bound-to": [{"exchange": e, "routingKey": ""} for e in stream.exchanges],
            "x-arguments": stream.arguments(),
        }
    return found


# --- operations ------------------------------------------------------------------------------


def operations() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for event_type, producer in PRODUCER_OF.items():
        models = [m for m in SCHEMAS.models() if m.event_type == event_type]
        exchange = EXCHANGE_OF[event_type]
        found[f"{producer}.publishes.{event_type}"] = {
            "action": "send",
            "channel": ref("channels", exchange),
            "title": f"The {producer} service publishes {event_type}",
            "description": (
                f"Staged in the {producer} service's transactional outbox with the change "
                "that caused it, signed, and published after commit with publisher confirms "
                "and `mandatory` set (an unroutable event stays in the outbox). Versions: "
                f"{', '.join(m.version for m in models)}."
            ),
            "messages": [ref("channels", exchange, "messages", message_id(m)) for m in models],
            "bindings": {
                "amqp": {"deliveryMode": 2, "mandatory": True, "bindingVersion": AMQP_BINDING}
            },
            "x-producer": producer,
        }
    for subscriber in SUBSCRIBERS:
        found.update(_consumer_operations(subscriber))
    for stream in STREAMS:
        for reader in STREAM_READERS[stream.name]:
            found[f"{reader}.reads.{stream.name}"] = {
                "action": "receive",
                "channel": ref("channels", stream.name),
                "title": f"The {reader} service reads {stream.name}",
                "description": (
                    "From the offset it last recorded, every message, whatever it is: the "
                    "reader judges each one (genuine, rejected by its signature, invalid) and "
                    "applies nothing."
                ),
                "messages": [
                    ref("channels", stream.name, "messages", message_id(m))
                    for m in _carried_by(stream)
                ],
                "bindings": {"amqp": {"ack": True, "bindingVersion": AMQP_BINDING}},
            }
    return found


def _consumer_operations(subscriber: Subscriber) -> dict[str, Any]:
    spec, service = subscriber.queue, subscriber.service
    accepted = accepted_by(subscriber)
    handled = ", ".join(f"{t} v{v}" for t, v in subscriber.handles.items())
    found: dict[str, Any] = {
        f"{service}.receives.{spec.name}": {
            "action": "receive",
            "channel": ref("channels", spec.name),
            "title": f"The {service} service reads {spec.name}",
            "description": (
                f"Handlers for {handled}; an older version is upcast first, a newer one is "
                "dead-lettered. The signature is verified before anything else, and the "
                "event id is recorded in an inbox in the transaction of its effect: a "
                "redelivery has no second effect."
            ),
            "messages": [ref("channels", spec.name, "messages", message_id(m)) for m in accepted],
            "bindings": {"amqp": {"ack": True, "bindingVersion": AMQP_BINDING}},
        },
        f"{service}.dead-letters.{spec.name}": {
            "action": "send",
            "channel": ref("channels", spec.dead_letter_exchange),
            "title": f"The {service} service dead-letters what it cannot process",
            "description": "A copy with the failure in its headers, then the original is acked.",
            "messages": [ref("channels", spec.dead_letter_exchange, "messages", "DeadLetter")],
        },
    }
    for delay in DEFAULT_RETRY_DELAYS:
        retry = spec.retry_queue(delay)
        found[f"{service}.retries.{retry}"] = {
            "action": "send",
            "channel": ref("channels", retry),
            "title": f"The {service} service retries a failed message after {delay:g} s",
            "messages": [ref("channels", retry, "messages", message_id(m)) for m in accepted],
        }
    return found


# --- files -----------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def to_yaml(doc: Mapping[str, Any]) -> str:
    header = (
        "# Generated by `python -m shared.contract.asyncapi` from shared/contract: do not edit.\n"
    )
    return header + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def project_version(root: Path = ROOT) -> str:
    with (root / "pyproject.toml").open("rb") as file:
        return str(tomllib.load(file)["project"]["version"])


def generated(root: Path = ROOT) -> dict[Path, str]:
    """Every generated file, by its path under `root`, and what it holds."""
    doc = document(project_version(root))
    files = {
        Path("docs/asyncapi.yaml"): to_yaml(doc),
        Path("docs/asyncapi.md"): to_markdown(doc),
    }
    for model in SCHEMAS.models():
        path = Path("docs/schemas") / file_name(model.event_type, model.version)
        files[path] = json.dumps(json_schema(model), indent=2, ensure_ascii=False) + "\n"
    return files


def differences(root: Path = ROOT) -> list[str]:
    """A unified diff for each generated file that is not what the code makes now."""
    found = []
    files = generated(root)
    for stale in sorted((root / "docs/schemas").glob("*.json")):
        if stale.relative_to(root) not in files:
            found.append(f"{stale.relative_to(root)}: no (type, version) makes it: remove it\n")
    for path, text in files.items():
        target = root / path
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            diff = difflib.unified_diff(
                current.splitlines(keepends=True),
                text.splitlines(keepends=True),
                f"{path} (committed)",
                f"{path} (generated)",
            )
            found.append("".join(diff) or f"{path}: missing\n")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.contract.asyncapi", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="the repository (default: this one)"
    )
    args = parser.parse_args(argv)
    if args.check:
        stale = differences(args.root)
        for diff in stale:
            sys.stdout.write(diff)
        if stale:
            print(
                f"{len(stale)} generated file(s) differ from what the code makes: run "
                "`python -m shared.contract.asyncapi` and commit them.",
                file=sys.stderr,
            )
            return 1
        print("docs/asyncapi.yaml, docs/asyncapi.md and docs/schemas/ are up to date.")
        return 0
    for path, text in generated(args.root).items():
        target = args.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
