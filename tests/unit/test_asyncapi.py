"""The AsyncAPI document (`python -m shared.contract.asyncapi`): valid AsyncAPI 3.0, every
reference in it resolves, what the producers really publish is valid against its messages,
it names every envelope attribute and AMQP header the system uses, and the committed
docs/ are what the code makes (`--check`)."""

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from shared.contract import headers as h
from shared.contract.asyncapi import ROOT, differences, document, main, project_version
from shared.contract.envelope import CloudEvent
from shared.contract.events import (
    INVENTORY_SOURCE,
    ORDER_SOURCE,
    EventData,
    OrderLine,
    OrderPlacedV1,
    OrderPlacedV2,
    PricedOrderLine,
    StockRejectedV1,
    StockReservedV1,
    event_of,
)

# From the npm package @asyncapi/specs 6.11.1, schemas/3.0.0.json: see tests/contract/README.md.
ASYNCAPI_SCHEMA = ROOT / "tests/contract/asyncapi-3.0.0.schema.json"


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docs/asyncapi.yaml").read_text())
    return loaded


@pytest.fixture(scope="module")
def asyncapi() -> jsonschema.Draft7Validator:
    schema = json.loads(ASYNCAPI_SCHEMA.read_text())
    assert schema["title"] == "AsyncAPI 3.0.0 schema."
    return jsonschema.Draft7Validator(schema)


def test_the_committed_document_is_valid_asyncapi_3_0(
    committed: dict[str, Any], asyncapi: jsonschema.Draft7Validator
) -> None:
    errors = [
        f"{list(e.absolute_path)}: {e.message[:200]}" for e in asyncapi.iter_errors(committed)
    ]
    assert errors == []
    assert committed == document(project_version())


def test_the_validator_would_see_a_document_that_is_not(
    asyncapi: jsonschema.Draft7Validator,
) -> None:
    broken = document(project_version())
    broken["operations"]["order.publishes.OrderPlaced"]["action"] = "publish"
    del broken["servers"]["local"]["protocol"]
    broken["channels"]["order.events"]["bindings"]["amqp"]["is"] = "exchange"

    assert len(list(asyncapi.iter_errors(broken))) == 3


def references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        assert isinstance(node, dict) and part in node, f"{ref}: no {part!r}"
        node = node[part]
    return node


def test_every_reference_in_the_document_resolves_within_it() -> None:
    doc = document(project_version())
    found = list(references(doc))

    assert len(found) > 50
    for ref in found:
        resolve(doc, ref)


def test_an_operation_names_only_messages_of_its_channel() -> None:
    doc = document(project_version())
    for name, operation in doc["operations"].items():
        channel = operation["channel"]["$ref"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(f"{channel}/messages/"), name


def validator_for(doc: dict[str, Any], schema: str) -> jsonschema.Draft7Validator:
    """A validator of one of the document's schemas, resolving references in the document."""
    return jsonschema.Draft7Validator({**doc, "$ref": f"#/components/schemas/{schema}"})


SAMPLES: list[EventData] = [
    OrderPlacedV1(order_id=uuid.uuid4(), customer_id="c-1", items=[OrderLine(sku="A", quantity=2)]),
    OrderPlacedV2(
        order_id=uuid.uuid4(),
        customer_id="c-1",
        email="ada@example.com",
        items=[PricedOrderLine(sku="A", quantity=2, unit_price="2.50")],
        currency="EUR",
        total="5.00",
    ),
    OrderPlacedV2(
        order_id=uuid.uuid4(), customer_id="c-1", items=[PricedOrderLine(sku="A", quantity=1)]
    ),
    StockReservedV1(order_id=uuid.uuid4(), items=[OrderLine(sku="A", quantity=2)]),
    StockRejectedV1(order_id=uuid.uuid4(), items=[OrderLine(sku="A", quantity=2)], reason="short"),
]


@pytest.mark.parametrize("data", SAMPLES, ids=lambda d: f"{d.event_type}.v{d.version}")
def test_each_event_as_its_producer_writes_it_is_valid_against_its_message_and_no_other(
    data: EventData,
) -> None:
    source = ORDER_SOURCE if data.event_type == "OrderPlaced" else INVENTORY_SOURCE
    body = json.loads(event_of(data, source=source).model_dump_json(exclude_none=True))
    doc = document(project_version())
    mine = f"{data.event_type}.v{data.version}"

    validator_for(doc, f"{mine}.event").validate(body)
    for model in ("OrderPlaced.v1", "OrderPlaced.v2", "StockReserved.v1", "StockRejected.v1"):
        if model != mine:
            assert not validator_for(doc, f"{model}.event").is_valid(body), model


def test_an_event_of_version_1_may_leave_its_dataversion_out() -> None:
    data = StockReservedV1(order_id=uuid.uuid4(), items=[OrderLine(sku="A", quantity=2)])
    body = json.loads(event_of(data, source=INVENTORY_SOURCE).model_dump_json(exclude_none=True))
    del body["dataversion"], body["dataschema"]

    validator_for(document(project_version()), "StockReserved.v1.event").validate(body)


def test_the_envelope_schema_has_every_attribute_of_the_envelope_model() -> None:
    envelope = document(project_version())["components"]["schemas"]["CloudEvent"]

    assert set(envelope["properties"]) == {*CloudEvent.model_fields, "data_base64"}
    assert {"correlationid", "causationid", "dataversion", "dataschema"} <= set(
        envelope["properties"]
    )


def test_every_amqp_header_the_system_reads_or_writes_is_in_a_message_definition() -> None:
    schemas = document(project_version())["components"]["schemas"]
    described = {
        *schemas["EventHeaders"]["properties"],
        *schemas["DeadLetterHeaders"]["allOf"][1]["properties"],
    }
    names = {
        value
        for name, value in vars(h).items()
        if name.isupper() and isinstance(value, str)  # not the tuples that group them
    }

    assert names - described == set()
    assert {h.SIGNATURE, h.SIGNATURE_KEY} <= set(schemas["EventHeaders"]["required"])


def test_the_committed_docs_are_what_the_code_makes() -> None:
    stale = differences(ROOT)
    assert stale == [], "run `python -m shared.contract.asyncapi` and commit docs/:\n" + "".join(
        stale
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_check_passes_on_what_the_generator_wrote_and_fails_with_a_diff_otherwise(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--check", "--root", str(repo)]) == 1, "nothing written yet"
    assert main(["--root", str(repo)]) == 0
    assert (repo / "docs/schemas/OrderPlaced.v2.json").exists()
    assert main(["--check", "--root", str(repo)]) == 0
    capsys.readouterr()

    spec = repo / "docs/asyncapi.yaml"
    spec.write_text(spec.read_text().replace("x-delivery-limit: 20", "x-delivery-limit: 5"))
    assert main(["--check", "--root", str(repo)]) == 1
    out = capsys.readouterr().out
    assert "docs/asyncapi.yaml (committed)" in out
    assert "-      x-delivery-limit: 5" in out and "+      x-delivery-limit: 20" in out

    main(["--root", str(repo)])
    (repo / "docs/schemas/OrderPlaced.v9.json").write_text("{}")
    assert main(["--check", "--root", str(repo)]) == 1
    assert (
        "docs/schemas/OrderPlaced.v9.json: no (type, version) makes it" in capsys.readouterr().out
    )
