"""The reusable parts of the AsyncAPI document (`shared.contract.asyncapi`): the CloudEvents
envelope, the AMQP headers of an event and of a dead letter, each (type, version)'s data
schema and whole event, and the messages that carry them."""

from collections.abc import Mapping
from typing import Any

from shared.contract import headers as h
from shared.contract.envelope import CONTENT_TYPE
from shared.contract.events import PRODUCER_OF, SCHEMAS, SOURCE_OF, EventData, schema_uri
from shared.contract.schemas import json_schema
from shared.contract.topology import DELIVERY_LIMIT, EXCHANGE_OF, QUEUES, QueueSpec

AMQP_BINDING = "0.3.0"
ENVELOPE = "CloudEvent"
EVENT_HEADERS = "EventHeaders"
DEAD_LETTER_HEADERS = "DeadLetterHeaders"


def message_id(model: type[EventData]) -> str:
    return f"{model.event_type}.v{model.version}"


def ref(*path: str) -> dict[str, str]:
    return {"$ref": "#/" + "/".join(path)}


def published_to(exchange: str) -> list[type[EventData]]:
    return [m for m in SCHEMAS.models() if EXCHANGE_OF.get(m.event_type) == exchange]


def dead_letter_message(spec: QueueSpec) -> str:
    return f"DeadLetter.{spec.name}"


def schemas() -> dict[str, Any]:
    found: dict[str, Any] = {
        ENVELOPE: envelope_schema(),
        EVENT_HEADERS: event_headers_schema(),
        DEAD_LETTER_HEADERS: dead_letter_headers_schema(),
    }
    for model in SCHEMAS.models():
        found[message_id(model)] = embedded_data_schema(model)
        found[f"{message_id(model)}.event"] = event_schema(model)
    return found


def embedded_data_schema(model: type[EventData]) -> dict[str, Any]:
    """The model's JSON Schema as this document holds it: `$ref`s point into the document,
    and no `$id` (which would change what they resolve against)."""
    schema = {k: v for k, v in json_schema(model).items() if k not in ("$schema", "$id")}
    prefix = f"#/components/schemas/{message_id(model)}/$defs/"
    embedded: dict[str, Any] = _rewrite_refs(schema, "#/$defs/", prefix)
    return embedded


def _rewrite_refs(node: Any, old: str, new: str) -> Any:
    if isinstance(node, dict):
        return {
            k: (new + v[len(old) :])
            if k == "$ref" and isinstance(v, str) and v.startswith(old)
            else _rewrite_refs(v, old, new)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_refs(item, old, new) for item in node]
    return node


def event_schema(model: type[EventData]) -> dict[str, Any]:
    producer = PRODUCER_OF[model.event_type]
    version = {"const": model.version}
    if model.version == "1":
        version["description"] = "Absent means 1."
    return {
        "title": f"{model.event_type} v{model.version} (the whole CloudEvent)",
        "allOf": [
            ref("components", "schemas", ENVELOPE),
            {
                "type": "object",
                "required": ["data"] if model.version == "1" else ["dataversion", "data"],
                "properties": {
                    "type": {"const": model.event_type},
                    "source": {"const": SOURCE_OF[producer]},
                    "dataversion": version,
                    "dataschema": {"const": schema_uri(model.event_type, model.version)},
                    "data": ref("components", "schemas", message_id(model)),
                },
            },
        ],
    }


def envelope_schema() -> dict[str, Any]:
    text = {"type": "string"}
    return {
        "title": "CloudEvents 1.0 envelope, structured JSON mode",
        "description": (
            "What every message body is. Consumers accept any producer that follows "
            "CloudEvents 1.0 (other extension attributes are kept), and `data_base64` "
            "instead of `data`."
        ),
        "type": "object",
        "required": ["specversion", "id", "source", "type"],
        "oneOf": [{"required": ["data"]}, {"required": ["data_base64"]}],
        "propertyNames": {"pattern": "^([a-z0-9]{1,20}|data_base64)$"},
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {
                **text,
                "minLength": 1,
                "description": "Unique per event; also the AMQP `message_id`. Consumers "
                "deduplicate by it.",
            },
            "source": {**text, "minLength": 1, "description": "The producing service."},
            "type": {**text, "minLength": 1, "description": "The event type."},
            "time": {**text, "format": "date-time"},
            "datacontenttype": {**text, "description": "`application/json` from our producers."},
            "dataschema": {
                **text,
                "description": "The JSON Schema of `data`: `urn:rabbit-orders:schema:<type>:"
                "<version>`, served by the producer at `GET /schemas/<type>/<version>`.",
            },
            "subject": text,
            "correlationid": {
                **text,
                "description": "Extension: the id of the flow's first event (defaults to `id`); "
                "also the AMQP `correlation_id`.",
            },
            "causationid": {
                **text,
                "description": "Extension: the id of the event that caused this one (defaults "
                "to `id`).",
            },
            "dataversion": {
                **text,
                "default": "1",
                "description": "Extension: the version of the data's schema.",
            },
            "data": {"description": "The event's data: see its (type, dataversion)'s schema."},
            "data_base64": {**text, "contentEncoding": "base64"},
        },
    }


def _headers(properties: Mapping[str, dict[str, Any]], **more: Any) -> dict[str, Any]:
    return {"type": "object", "properties": dict(properties), **more}


def event_headers_schema() -> dict[str, Any]:
    text, count, time = {"type": "string"}, {"type": "integer", "minimum": 1}, _time()
    return _headers(
        {
            h.SIGNATURE: {**text, "description": "Base64 Ed25519 signature of the body."},
            h.SIGNATURE_KEY: {**text, "description": "The id of the key that signed it."},
            h.TRACEPARENT: {**text, "description": "W3C trace context: the span it continues."},
            h.TRACESTATE: {**text, "description": "W3C trace context, vendor part."},
            h.RETRY_ATTEMPT: {**count, "description": "On a retried copy: failed attempts."},
            h.ERROR_TYPE: {**text, "description": "On a retried copy: the last error's class."},
            h.ERROR_MESSAGE: {**text, "description": "On a retried copy: the last error."},
            h.FIRST_FAILURE_AT: time,
            h.LAST_FAILURE_AT: time,
            h.REPLAY_COUNT: {**count, "description": "On a replayed copy: replays so far."},
            h.REPLAYED_AT: time,
        },
        required=[h.SIGNATURE, h.SIGNATURE_KEY],
        description=(
            "AMQP application headers. An event without a signature by a key of the "
            "producer allowed to publish its type is dead-lettered, unapplied."
        ),
    )


def _time() -> dict[str, Any]:
    return {"type": "string", "format": "date-time"}


def dead_letter_headers_schema() -> dict[str, Any]:
    text, time = {"type": "string"}, _time()
    ours: dict[str, dict[str, Any]] = {
        h.DEAD_LETTER_REASON: {**text, "description": "Why, in one line."},
        h.ERROR_TYPE: {**text, "description": "The error's class."},
        h.ERROR_MESSAGE: text,
        h.ATTEMPTS: {"type": "integer", "minimum": 1, "description": "Deliveries it had."},
        h.SERVICE: {**text, "description": "The service that dead-lettered it."},
        h.ORIGINAL_QUEUE: {**text, "description": "The work queue it failed in."},
        h.FIRST_FAILURE_AT: time,
        h.LAST_FAILURE_AT: time,
    }
    broker: dict[str, dict[str, Any]] = {
        h.DEATH: {"type": "array", "description": "Set by the broker."},
        h.FIRST_DEATH_REASON: {**text, "description": "Set by the broker: `delivery_limit`."},
        h.FIRST_DEATH_QUEUE: text,
        h.FIRST_DEATH_EXCHANGE: text,
        h.LAST_DEATH_REASON: text,
        h.LAST_DEATH_QUEUE: text,
        h.LAST_DEATH_EXCHANGE: text,
        h.DELIVERY_COUNT: {"type": "integer", "description": "Set by the broker."},
    }
    return {
        "description": (
            "The original's headers (its signature, trace context), and the failure: "
            "ours when a consumer dead-lettered it, the broker's when it exceeded the "
            f"delivery limit ({DELIVERY_LIMIT})."
        ),
        "allOf": [
            ref("components", "schemas", EVENT_HEADERS),
            _headers(
                {**ours, **broker},
                anyOf=[
                    {"required": [h.DEAD_LETTER_REASON, h.ATTEMPTS, h.ORIGINAL_QUEUE]},
                    {"required": [h.FIRST_DEATH_REASON, h.FIRST_DEATH_QUEUE]},
                ],
            ),
        ],
    }


def messages() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for model in SCHEMAS.models():
        producer = PRODUCER_OF[model.event_type]
        found[message_id(model)] = {
            "name": model.event_type,
            "title": f"{model.event_type} v{model.version}",
            "summary": f"Published by the {producer} service to {EXCHANGE_OF[model.event_type]}.",
            "contentType": CONTENT_TYPE,
            "headers": ref("components", "schemas", EVENT_HEADERS),
            "payload": ref("components", "schemas", f"{message_id(model)}.event"),
            "correlationId": {
                "description": "The flow's correlation id (also the AMQP correlation_id).",
                "location": "$message.payload#/correlationid",
            },
            "bindings": {"amqp": {"messageType": model.event_type, "bindingVersion": AMQP_BINDING}},
            "x-amqp-properties": {
                "message_id": "the event's id",
                "type": model.event_type,
                "correlation_id": "the event's correlationid",
                "content_type": CONTENT_TYPE,
                "delivery_mode": 2,
                "app_id": f"{producer}-service",
                "user_id": "the publishing connection's user (the broker checks it)",
            },
            "x-dataschema": schema_uri(model.event_type, model.version),
        }
    for spec in QUEUES:
        carried = [
            ref("components", "schemas", f"{message_id(m)}.event")
            for m in published_to(spec.exchange)
        ]
        found[dead_letter_message(spec)] = {
            "name": "DeadLetter",
            "title": f"A dead letter of {spec.name}",
            "summary": "The message as it arrived (body and properties), and why it failed.",
            "contentType": CONTENT_TYPE,
            "headers": ref("components", "schemas", DEAD_LETTER_HEADERS),
            "payload": {
                "description": (
                    "The body as it arrived: usually one of these events; anything else a "
                    "consumer refused (not JSON, not a CloudEvent, unsigned) lands here too."
                ),
                "anyOf": [*carried, {}],
            },
        }
    return found
