"""CloudEvents 1.0 envelope in structured JSON mode, and its AMQP mapping.

The envelope is validated on its own first (`CloudEvent`), then its `data` against the
schema registered for its `type` and `dataversion` (see `shared.contract.events`). Consumers
accept any producer that follows the spec, so parsing is strict about what CloudEvents
requires and lenient about what it leaves open.
"""

import base64
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

CONTENT_TYPE = "application/cloudevents+json"
_EXTENSION_NAME = re.compile(r"[a-z0-9]{1,20}")
_JSON_MEDIA = re.compile(r"^(application|text)/([a-z0-9.+-]+\+)?json\s*(;.*)?$", re.IGNORECASE)


class InvalidMessage(Exception):
    """A message that can never be processed: not JSON, not a CloudEvent, or data that
    fails its schema. It is dead-lettered at once, never retried."""


class CloudEvent(BaseModel):
    """The context attributes of a CloudEvent plus `data`.

    Extension attributes are kept (extra="allow") so a message can be forwarded intact;
    the ones this system uses are declared: `correlationid`, `causationid`, `dataversion`.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: str
    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    time: datetime | None = None
    datacontenttype: str | None = None
    dataschema: str | None = None
    subject: str | None = None
    correlationid: str | None = None
    causationid: str | None = None
    dataversion: str = "1"
    data: Any = None

    @model_validator(mode="before")
    @classmethod
    def _structured_mode(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            raise ValueError("a structured CloudEvent must be a JSON object")
        if "specversion" not in raw:
            raise ValueError("missing specversion")
        if raw["specversion"] != "1.0":
            raise ValueError(f"unsupported specversion {raw['specversion']!r}, expected '1.0'")
        for name in raw:
            if name != "data_base64" and not _EXTENSION_NAME.fullmatch(name):
                raise ValueError(f"invalid attribute name {name!r}")
        if "data_base64" in raw:
            if "data" in raw:
                raise ValueError("'data' and 'data_base64' are mutually exclusive")
            raw = dict(raw)
            encoded = raw.pop("data_base64")
            try:
                decoded = base64.b64decode(encoded, validate=True)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"data_base64 is not valid base64: {exc}") from exc
            raw["data"] = orjson.loads(decoded) if _is_json(raw.get("datacontenttype")) else decoded
        elif "data" not in raw:
            raise ValueError("the event has no 'data'")
        return raw

    @property
    def correlation_id(self) -> str:
        return self.correlationid or self.id

    @property
    def causation_id(self) -> str:
        return self.causationid or self.id


def _is_json(content_type: str | None) -> bool:
    return content_type is None or bool(_JSON_MEDIA.match(content_type))


def new_event(
    *,
    type: str,
    source: str,
    data: BaseModel,
    dataversion: str = "1",
    dataschema: str | None = None,
    cause: CloudEvent | None = None,
    id: str | None = None,
) -> CloudEvent:
    """Build an event. When it is caused by another event it inherits the correlation id
    and names the cause, so a whole flow can be followed across services."""
    event_id = id or str(uuid.uuid4())
    return CloudEvent(
        specversion="1.0",
        id=event_id,
        source=source,
        type=type,
        time=datetime.now(UTC),
        datacontenttype="application/json",
        correlationid=cause.correlation_id if cause else event_id,
        causationid=cause.id if cause else event_id,
        dataversion=dataversion,
        dataschema=dataschema,
        data=data.model_dump(mode="json"),
    )


def encode(event: CloudEvent) -> bytes:
    if isinstance(event.data, bytes):
        # Binary data travels base64-encoded (CloudEvents JSON format, section 3.1).
        raw = event.model_dump(mode="json", exclude_none=True, exclude={"data"})
        raw["data_base64"] = base64.b64encode(event.data).decode()
        return orjson.dumps(raw)
    return orjson.dumps(event.model_dump(mode="json", exclude_none=True))


def decode(body: bytes) -> CloudEvent:
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidMessage(f"body is not valid JSON: {exc}") from exc
    try:
        return CloudEvent.model_validate(raw)
    except ValidationError as exc:
        raise InvalidMessage(f"not a valid CloudEvent: {validation_summary(exc)}") from exc


def validation_summary(exc: ValidationError) -> str:
    """A one-line, human-readable account of a pydantic validation failure."""
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "event"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
