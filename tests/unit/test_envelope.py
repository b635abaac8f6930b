import base64
import dataclasses
import re
from datetime import UTC, datetime
from typing import Any

import aio_pika
import orjson
import pytest
from pydantic import BaseModel

from shared.contract.envelope import (
    CONTENT_TYPE,
    CloudEvent,
    InvalidMessage,
    decode,
    encode,
    new_event,
)
from shared.contract.outbound import OutboundMessage
from shared.messaging.broker import amqp_message


class Greeting(BaseModel):
    text: str
    count: int


def a_greeting() -> Greeting:
    return Greeting(text="hello", count=2)


def raw_event(**attributes: Any) -> dict[str, Any]:
    """A minimal valid structured CloudEvent, as a foreign producer might send it."""
    return {
        "specversion": "1.0",
        "id": "evt-1",
        "source": "/elsewhere",
        "type": "Greeted",
        "data": {"text": "hello"},
        **attributes,
    }


def without(raw: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: value for name, value in raw.items() if name not in names}


def body(raw: Any) -> bytes:
    return orjson.dumps(raw)


def b64(payload: bytes) -> str:
    return base64.b64encode(payload).decode()


def test_new_event_carries_type_source_and_data_as_json() -> None:
    event = new_event(type="Greeted", source="/greeter", data=a_greeting())

    assert event.specversion == "1.0"
    assert event.type == "Greeted"
    assert event.source == "/greeter"
    assert event.datacontenttype == "application/json"
    assert event.dataversion == "1"
    assert event.data == {"text": "hello", "count": 2}
    assert event.time is not None
    assert event.time.tzinfo is not None


def test_new_events_get_distinct_ids_unless_one_is_given() -> None:
    first = new_event(type="Greeted", source="/greeter", data=a_greeting())
    second = new_event(type="Greeted", source="/greeter", data=a_greeting())
    chosen = new_event(type="Greeted", source="/greeter", data=a_greeting(), id="mine")

    assert first.id != second.id
    assert chosen.id == "mine"


def test_an_uncaused_event_is_its_own_correlation_and_causation() -> None:
    event = new_event(type="Greeted", source="/greeter", data=a_greeting())

    assert event.correlationid == event.id
    assert event.causationid == event.id


def test_a_caused_event_inherits_the_correlation_id_and_names_its_cause() -> None:
    root = new_event(type="Asked", source="/asker", data=a_greeting())
    middle = new_event(type="Greeted", source="/greeter", data=a_greeting(), cause=root)
    last = new_event(type="Thanked", source="/thanker", data=a_greeting(), cause=middle)

    assert middle.correlationid == root.id
    assert middle.causationid == root.id
    assert last.correlationid == root.id
    assert last.causationid == middle.id


def test_a_caused_event_follows_a_foreign_correlation_id() -> None:
    cause = decode(body(raw_event(correlationid="flow-7")))

    event = new_event(type="Greeted", source="/greeter", data=a_greeting(), cause=cause)

    assert event.correlationid == "flow-7"
    assert event.causationid == "evt-1"


def test_correlation_and_causation_default_to_the_event_id_when_absent() -> None:
    event = decode(body(raw_event()))

    assert event.correlation_id == "evt-1"
    assert event.causation_id == "evt-1"


def test_explicit_correlation_and_causation_win_over_the_event_id() -> None:
    event = decode(body(raw_event(correlationid="flow-1", causationid="evt-0")))

    assert event.correlation_id == "flow-1"
    assert event.causation_id == "evt-0"


def test_dataversion_defaults_to_1() -> None:
    assert decode(body(raw_event())).dataversion == "1"


def test_encode_then_decode_preserves_every_attribute() -> None:
    cause = new_event(type="Asked", source="/asker", data=a_greeting())
    event = new_event(
        type="Greeted", source="/greeter", data=a_greeting(), dataversion="2", cause=cause
    )

    decoded = decode(encode(event))

    assert decoded == event
    assert decoded.id == event.id
    assert decoded.correlationid == cause.id
    assert decoded.causationid == cause.id
    assert decoded.dataversion == "2"
    assert decoded.time == event.time
    assert decoded.data == {"text": "hello", "count": 2}


def test_encode_writes_the_time_as_rfc3339() -> None:
    event = CloudEvent(
        specversion="1.0",
        id="evt-1",
        source="/s",
        type="T",
        time=datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
        data={},
    )

    assert orjson.loads(encode(event))["time"] == "2024-05-06T07:08:09Z"


def test_encode_omits_attributes_that_are_not_set() -> None:
    written = orjson.loads(encode(decode(body(raw_event()))))

    assert "time" not in written
    assert "subject" not in written
    assert "correlationid" not in written


def test_extension_attributes_from_foreign_producers_are_accepted_and_kept() -> None:
    raw = raw_event(traceparent="00-abc-def-01", tenant="acme", priority=3)

    event = decode(body(raw))

    assert event.model_extra == {"traceparent": "00-abc-def-01", "tenant": "acme", "priority": 3}
    written = orjson.loads(encode(event))
    assert written["traceparent"] == "00-abc-def-01"
    assert written["tenant"] == "acme"
    assert written["priority"] == 3


def test_optional_spec_attributes_are_accepted() -> None:
    event = decode(
        body(
            raw_event(
                subject="order/1",
                dataschema="https://example.com/schema.json",
                time="2024-05-06T07:08:09+02:00",
            )
        )
    )

    assert event.subject == "order/1"
    assert event.dataschema == "https://example.com/schema.json"
    assert event.time == datetime(2024, 5, 6, 5, 8, 9, tzinfo=UTC)


def test_a_body_that_is_not_json_is_invalid() -> None:
    with pytest.raises(InvalidMessage, match="not valid JSON"):
        decode(b"{not json")


def test_a_json_array_is_not_a_structured_cloudevent() -> None:
    with pytest.raises(InvalidMessage, match="must be a JSON object"):
        decode(body([raw_event()]))


@pytest.mark.parametrize("attribute", ["id", "source", "type"])
def test_a_missing_required_attribute_is_named(attribute: str) -> None:
    with pytest.raises(InvalidMessage, match=rf"{attribute}: Field required"):
        decode(body(without(raw_event(), attribute)))


@pytest.mark.parametrize("attribute", ["id", "source", "type"])
def test_an_empty_required_attribute_is_invalid(attribute: str) -> None:
    with pytest.raises(InvalidMessage, match=rf"{attribute}: String should have at least 1"):
        decode(body(raw_event(**{attribute: ""})))


def test_a_missing_specversion_is_invalid() -> None:
    with pytest.raises(InvalidMessage, match="missing specversion"):
        decode(body(without(raw_event(), "specversion")))


def test_an_older_specversion_is_rejected() -> None:
    with pytest.raises(InvalidMessage, match=r"unsupported specversion '0.3', expected '1.0'"):
        decode(body(raw_event(specversion="0.3")))


def test_an_event_without_data_is_invalid() -> None:
    with pytest.raises(InvalidMessage, match="no 'data'"):
        decode(body(without(raw_event(), "data")))


@pytest.mark.parametrize(
    "name",
    ["Tenant", "TENANT", "a" * 21, "trace-parent", "trace_id", "tenant id", ""],
    ids=["capitalised", "upper-case", "too-long", "dash", "underscore", "space", "empty"],
)
def test_an_invalid_attribute_name_is_rejected_and_named(name: str) -> None:
    with pytest.raises(InvalidMessage, match=re.escape(f"invalid attribute name {name!r}")):
        decode(body(raw_event(**{name: "x"})))


def test_a_twenty_character_attribute_name_is_accepted() -> None:
    event = decode(body(raw_event(**{"a" * 20: "x"})))

    assert event.model_extra == {"a" * 20: "x"}


def test_an_attribute_name_ending_in_a_newline_is_rejected() -> None:
    with pytest.raises(InvalidMessage, match="invalid attribute name"):
        decode(body(raw_event(**{"tenant\n": "x"})))


def test_data_and_data_base64_together_are_rejected() -> None:
    with pytest.raises(InvalidMessage, match="'data' and 'data_base64' are mutually exclusive"):
        decode(body(raw_event(data_base64=b64(b"{}"))))


@pytest.mark.parametrize(
    "encoded", ["!!not base64!!", "abc", 42], ids=["alphabet", "padding", "type"]
)
def test_bad_base64_is_rejected(encoded: object) -> None:
    raw = without(raw_event(data_base64=encoded), "data")

    with pytest.raises(InvalidMessage, match="data_base64 is not valid base64"):
        decode(body(raw))


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "application/json; charset=utf-8", "application/vnd.acme+json"],
)
def test_data_base64_with_json_content_is_decoded_to_a_json_value(
    content_type: str | None,
) -> None:
    raw = without(raw_event(data_base64=b64(b'{"text": "hi", "n": [1, 2]}')), "data")
    if content_type is not None:
        raw["datacontenttype"] = content_type

    event = decode(body(raw))

    assert event.data == {"text": "hi", "n": [1, 2]}


def test_data_base64_that_claims_json_but_is_not_is_invalid() -> None:
    raw = without(
        raw_event(data_base64=b64(b"\xff\xfe"), datacontenttype="application/json"), "data"
    )

    with pytest.raises(InvalidMessage, match="not a valid CloudEvent"):
        decode(body(raw))


def test_data_base64_with_binary_content_stays_bytes() -> None:
    raw = without(raw_event(data_base64=b64(b"\x00\xffpng"), datacontenttype="image/png"), "data")

    assert decode(body(raw)).data == b"\x00\xffpng"


@pytest.mark.parametrize(
    ("payload", "content_type"),
    [(b"\x00\xffpng", "image/png"), (b"plain words", "text/plain")],
    ids=["not-utf8", "utf8"],
)
def test_a_binary_event_survives_an_encode_decode_round_trip(
    payload: bytes, content_type: str
) -> None:
    raw = without(raw_event(data_base64=b64(payload), datacontenttype=content_type), "data")
    event = decode(body(raw))

    assert decode(encode(event)).data == payload


def test_the_amqp_message_mirrors_the_envelope_in_message_properties() -> None:
    cause = new_event(type="Asked", source="/asker", data=a_greeting())
    event = new_event(type="Greeted", source="/greeter", data=a_greeting(), cause=cause)

    body, properties = amqp_message(OutboundMessage.of(event, "greetings"), app_id="greeter")

    assert body == encode(event)
    assert properties.message_id == event.id
    assert properties.message_type == "Greeted"
    assert properties.correlation_id == cause.id
    assert properties.content_type == CONTENT_TYPE == "application/cloudevents+json"
    assert properties.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert properties.app_id == "greeter"


def test_the_amqp_message_uses_the_event_id_as_correlation_id_when_the_event_has_none() -> None:
    event = decode(body(raw_event()))

    message = amqp_message(OutboundMessage.of(event, "x"), app_id="a")

    assert message.properties.correlation_id == "evt-1"


def test_headers_added_to_an_outbound_message_keep_everything_else_and_the_original() -> None:
    event = new_event(type="Greeted", source="/greeter", data=a_greeting())
    message = OutboundMessage.of(event, "greetings", "key").with_headers({"a": "1"})

    signed = message.with_headers({"b": "2", "a": "3"})

    expected = {**dataclasses.asdict(message), "headers": {"a": "3", "b": "2"}}
    assert dataclasses.asdict(signed) == expected
    assert message.headers == {"a": "1"}
