"""The breaking-change gate's rules (`shared.contract.compatibility`), as a catalogue: each
change to a released schema, the verdict it must get, and the field the report must name.
The released schema is pydantic's, as the contract's are: `$defs` and `$ref`s, `anyOf` with
null for an optional field, an enum, bounds and patterns."""

import copy
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

import pytest
from pydantic import BaseModel, Field

from shared.contract.breaking_changes import judge, report
from shared.contract.compatibility import compare


class Colour(StrEnum):
    RED = "red"
    GREEN = "green"


class Line(BaseModel):
    sku: str = Field(min_length=1, max_length=64, pattern=r"^[A-Z0-9-]+$")
    quantity: int = Field(ge=1, le=10_000)


class Sample(BaseModel):
    """An order, as a released schema would have it."""

    order_id: UUID
    customer_id: str = Field(min_length=1, max_length=128, description="Who ordered.")
    email: str | None = None
    weight: float = Field(ge=0)
    colour: Colour
    note: str | None = Field(None, max_length=200)
    items: list[Line] = Field(min_length=1, max_length=100)


RELEASED: dict[str, Any] = Sample.model_json_schema()
Edit = Callable[[dict[str, Any]], None]


def field_of(schema: dict[str, Any], path: str) -> dict[str, Any]:
    """The schema of `path` ("items[].sku"), where an edit changes it ($defs included)."""
    node = schema
    for part in path.split("."):
        name = part.removesuffix("[]")
        node = node["properties"][name]
        if part.endswith("[]"):
            node = node["items"]
        if "$ref" in node:
            node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def required(schema: dict[str, Any], path: str = "") -> list[str]:
    node = field_of(schema, path) if path else schema
    found: list[str] = node.setdefault("required", [])
    return found


@dataclass(frozen=True)
class Case:
    id: str
    edit: Edit
    field: str  # as the report names it
    says: str  # what the report says about it


def set_(path: str, **keywords: Any) -> Edit:
    def edit(schema: dict[str, Any]) -> None:
        field_of(schema, path).update(keywords)

    return edit


def drop(path: str, keyword: str) -> Edit:
    def edit(schema: dict[str, Any]) -> None:
        del field_of(schema, path)[keyword]

    return edit


def add_field(name: str, definition: dict[str, Any], *, is_required: bool) -> Edit:
    def edit(schema: dict[str, Any]) -> None:
        schema["properties"][name] = definition
        if is_required:
            required(schema).append(name)

    return edit


def remove_field(path: str) -> Edit:
    def edit(schema: dict[str, Any]) -> None:
        parent, _, name = path.rpartition(".")
        owner = field_of(schema, parent) if parent else schema
        if "items" in owner and "properties" not in owner:
            owner = schema["$defs"][owner["items"]["$ref"].rsplit("/", 1)[-1]]
        del owner["properties"][name]
        if name in owner.get("required", []):
            owner["required"].remove(name)

    return edit


def make_required(name: str) -> Edit:
    return lambda schema: required(schema).append(name)


def make_optional(name: str) -> Edit:
    return lambda schema: required(schema).remove(name)


def enum_of_colour(values: list[str]) -> Edit:
    def edit(schema: dict[str, Any]) -> None:
        schema["$defs"]["Colour"]["enum"] = values

    return edit


def drop_colour_enum(schema: dict[str, Any]) -> None:
    del schema["$defs"]["Colour"]["enum"]


def replace_field(path: str, definition: dict[str, Any]) -> Edit:
    def edit(schema: dict[str, Any]) -> None:
        schema["properties"][path] = definition

    return edit


def top(**keywords: Any) -> Edit:
    return lambda schema: schema.update(keywords)


COMPATIBLE = [
    Case(
        "optional-field-added",
        add_field("gift_wrap", {"type": "boolean", "default": False}, is_required=False),
        "gift_wrap",
        "optional field added",
    ),
    Case(
        "optional-field-added-nullable",
        add_field(
            "currency",
            {
                "anyOf": [{"type": "string", "pattern": "^[A-Z]{3}$"}, {"type": "null"}],
                "default": None,
            },
            is_required=False,
        ),
        "currency",
        "optional field added",
    ),
    Case("optional-field-removed", remove_field("note"), "note", "optional field removed"),
    Case("max-length-raised", set_("customer_id", maxLength=256), "customer_id", "relaxed"),
    Case("min-length-dropped", drop("customer_id", "minLength"), "customer_id", "dropped"),
    Case("minimum-lowered", set_("items[].quantity", minimum=0), "items[].quantity", "relaxed"),
    Case("maximum-dropped", drop("items[].quantity", "maximum"), "items[].quantity", "dropped"),
    Case("max-items-raised", set_("items", maxItems=500), "items", "maxItems relaxed"),
    Case("pattern-dropped", drop("items[].sku", "pattern"), "items[].sku", "pattern"),
    Case("enum-value-added", enum_of_colour(["red", "green", "blue"]), "colour", "'blue'"),
    Case(
        "description-changed",
        set_("customer_id", description="The customer who placed the order."),
        "customer_id",
        "description changed",
    ),
    Case("enum-relaxed-to-any-string", drop_colour_enum, "colour", "no longer an enum"),
]

BREAKING = [
    Case(
        "required-field-removed",
        remove_field("customer_id"),
        "customer_id",
        "required field removed",
    ),
    Case(
        "required-field-removed-nested",
        remove_field("items[].sku"),
        "items[].sku",
        "required field removed",
    ),
    Case(
        "required-field-added",
        add_field("currency", {"type": "string"}, is_required=True),
        "currency",
        "required field added",
    ),
    Case("optional-field-made-required", make_required("email"), "email", "made required"),
    Case("required-field-made-optional", make_optional("weight"), "weight", "made optional"),
    Case(
        "type-narrowed-number-to-integer",
        set_("weight", type="integer"),
        "weight",
        "narrowed from number to integer",
    ),
    Case(
        "type-narrowed-string-to-enum",
        set_("customer_id", enum=["c-1", "c-2"]),
        "customer_id",
        "narrowed to an enum",
    ),
    Case(
        "type-narrowed-string-to-constant",
        set_("customer_id", const="c-1"),
        "customer_id",
        "constant",
    ),
    Case("type-changed", set_("weight", type="string"), "weight", "number no longer accepted"),
    Case(
        "type-widened-integer-to-number",
        set_("items[].quantity", type="number"),
        "items[].quantity",
        "widened from integer to number",
    ),
    Case("enum-value-removed", enum_of_colour(["red"]), "colour", "enum value removed: 'green'"),
    Case("max-length-lowered", set_("customer_id", maxLength=64), "customer_id", "lowered"),
    Case("max-length-added", set_("email", maxLength=64), "email", "maxLength 64 added"),
    Case("minimum-raised", set_("items[].quantity", minimum=2), "items[].quantity", "raised"),
    Case("min-items-raised", set_("items", minItems=2), "items", "minItems raised"),
    Case(
        "field-made-non-nullable",
        replace_field("email", {"type": "string", "default": None}),
        "email",
        "non-nullable",
    ),
    Case(
        "field-made-nullable",
        replace_field("weight", {"anyOf": [{"type": "number", "minimum": 0}, {"type": "null"}]}),
        "weight",
        "made nullable",
    ),
    Case(
        "pattern-changed",
        set_("items[].sku", pattern=r"^[A-Z]+$"),
        "items[].sku",
        "pattern changed",
    ),
    Case("pattern-added", set_("customer_id", pattern=r"^c-"), "customer_id", "pattern"),
    Case("format-added", set_("customer_id", format="email"), "customer_id", "format"),
    Case("default-changed", set_("note", default=""), "note", "default changed"),
    Case(
        "additional-properties-refused",
        top(additionalProperties=False),
        "",
        "additional properties now refused",
    ),
    Case("unknown-keyword-changed", top(minProperties=2, allOf=[{}]), "", "`allOf` changed"),
]


def changed(case: Case) -> dict[str, Any]:
    schema = copy.deepcopy(RELEASED)
    case.edit(schema)
    assert schema != RELEASED, case.id
    return schema


def report_of(current: dict[str, Any]) -> tuple[bool, str]:
    key = ("Sample", "1")
    (verdict,) = judge({key: RELEASED}, {key: current}, upcasters=())
    return verdict.fails, report([verdict])


@pytest.mark.parametrize("case", COMPATIBLE, ids=lambda c: c.id)
def test_a_compatible_change_passes_and_the_report_names_its_field(case: Case) -> None:
    current = changed(case)

    changes = compare(RELEASED, current)
    fails, text = report_of(current)

    assert not fails, text
    assert [c for c in changes if c.breaking] == []
    assert any(c.path == case.field and case.says in c.what for c in changes), changes
    assert f"{case.field or '(the data)'}: " in text
    assert "PASSED" in text


@pytest.mark.parametrize("case", BREAKING, ids=lambda c: c.id)
def test_an_incompatible_change_fails_and_the_report_names_its_field(case: Case) -> None:
    current = changed(case)

    changes = compare(RELEASED, current)
    fails, text = report_of(current)

    assert fails, text
    named = [c for c in changes if c.path == case.field and case.says in c.what]
    assert named and all(c.breaking for c in named), changes
    assert f"{case.field or '(the data)'}: {named[0].what} [BREAKING]" in text
    assert "Sample v1            BREAKING" in text and "FAILED" in text


def test_an_unchanged_schema_has_no_changes() -> None:
    assert compare(RELEASED, copy.deepcopy(RELEASED)) == []


def test_a_field_whose_definition_moved_to_another_def_is_compared_by_content() -> None:
    current = copy.deepcopy(RELEASED)
    current["$defs"]["OrderLine"] = current["$defs"].pop("Line")
    current["properties"]["items"]["items"] = {"$ref": "#/$defs/OrderLine"}

    assert compare(RELEASED, current) == []


def test_a_recursive_model_is_compared_without_end() -> None:
    class Node(BaseModel):
        name: str
        children: list["Node"] = []

    released = Node.model_json_schema()
    current = copy.deepcopy(released)
    current["$defs"]["Node"]["properties"]["name"]["maxLength"] = 10

    changes = compare(released, current)

    # Once, where the model is first met: inside itself it is the same comparison.
    assert [str(c) for c in changes if c.breaking] == ["name: maxLength 10 added [BREAKING]"]
