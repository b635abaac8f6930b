"""The JSON Schema of each (event type, data version), as published: served by the producing
service at `GET /schemas/{type}/{version}`, written to `docs/schemas/<Type>.v<version>.json`
and compared with the last release by the breaking-change gate
(`shared.contract.breaking_changes`).

A schema is the pydantic model's own (JSON Schema 2020-12, the validation side: what a
consumer accepts), named by the event's `dataschema` URI. What a model checks beyond it (an
OrderPlaced v2 total is the sum of its lines) is in its description, not in the schema."""

from typing import Any

from shared.contract.events import PRODUCER_OF, SCHEMAS, EventData, EventSchemas, schema_uri

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_schema(model: type[EventData]) -> dict[str, Any]:
    generated = model.model_json_schema()
    generated.pop("title", None)
    description = generated.pop("description", None) or (
        f"The data of a {model.event_type} event whose dataversion is {model.version!r}."
    )
    return {
        "$schema": DIALECT,
        "$id": schema_uri(model.event_type, model.version),
        "title": f"{model.event_type} v{model.version}",
        "description": description,
        **generated,
    }


def file_name(event_type: str, version: str) -> str:
    return f"{event_type}.v{version}.json"


def produced_by(producer: str, schemas: EventSchemas = SCHEMAS) -> list[type[EventData]]:
    """The models of every (type, version) that `producer` publishes."""
    return [model for model in schemas.models() if PRODUCER_OF.get(model.event_type) == producer]
