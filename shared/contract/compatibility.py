"""Whether a changed JSON Schema of a published (event type, version) still serves its
consumers. `compare(released, current)` lists every difference, each breaking or not, named
by the field it is about (`items[].sku`); the gate (`shared.contract.breaking_changes`)
fails on the breaking ones.

A published version is read by consumers deployed before the change and after it, and
upgrades roll consumers first, the producer last. So a change is breaking when either:

1. **it narrows what is accepted**: a consumer on the new schema (upgraded first) would
   refuse a message valid under the old one, which old producers still send and queues,
   retry queues and dead-letter queues still hold:
   - a required field added, or an optional one made required;
   - a type narrowed: a JSON type no longer accepted (`number` -> `integer`, a field made
     non-nullable), or a type made an enum or a constant;
   - an enum value removed, a constant changed;
   - a bound tightened: `minLength`, `minItems`, `minProperties`, `minimum`,
     `exclusiveMinimum` added or raised; their `max` counterparts added or lowered;
   - `pattern`, `format` or `multipleOf` added or changed (whether one regular expression
     accepts all that another did cannot be decided in general: any change is breaking);
   - `uniqueItems` added; additional properties refused where they were allowed;
2. **it takes away what a consumer's code relies on**, which redeploying cannot fix:
   - a required field removed, or made optional;
   - a type widened: a JSON type accepted that was not (`integer` -> `number`, a field made
     nullable): code written for the old type meets a value it was not written for;
   - a default changed: a message without the field now reads differently.

Everything else passes: an optional field added or removed (readers ignore fields they do
not know, and already do without an optional one), an enum value added (consumers treat an
enum as open), a bound relaxed or dropped, a pattern or format dropped (a relaxed constraint
is only validation, and consumers, upgraded first, accept it before any producer sends it),
and annotations (`title`, `description`, `examples`, `$comment`, `deprecated`).

The comparison follows local `$ref`s (`#/$defs/...`) on both sides and reads `anyOf` /
`oneOf` as a union of alternatives, matched by JSON type. A keyword it does not model
(`allOf`, `not`, `if`, `patternProperties`, `prefixItems`...) is breaking whenever it
differs, since the gate cannot tell which way it goes. What a model checks beyond its
schema (an OrderPlaced v2 total is the sum of its lines) is not compared.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

Schema = Mapping[str, Any]

ANNOTATIONS = {
    "title",
    "description",
    "examples",
    "$comment",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$schema",
    "$id",
    "$defs",
    "definitions",
}
LOWER_BOUNDS = ("minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum")
UPPER_BOUNDS = ("maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum")
EXACT = ("pattern", "format", "multipleOf")
MODELLED = {
    "type",
    "anyOf",
    "oneOf",
    "$ref",
    "enum",
    "const",
    "default",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "uniqueItems",
    *LOWER_BOUNDS,
    *UPPER_BOUNDS,
    *EXACT,
    *ANNOTATIONS,
}


@dataclass(frozen=True)
class Change:
    path: str  # the field, as `items[].sku`; "" for the data as a whole
    what: str
    breaking: bool

    def __str__(self) -> str:
        verdict = "BREAKING" if self.breaking else "compatible"
        return f"{self.path or '(the data)'}: {self.what} [{verdict}]"


def compare(released: Schema, current: Schema) -> list[Change]:
    """Every difference between the released schema of a version and the current one."""
    return list(_Comparison(released, current).node(released, current, ""))


class _Comparison:
    def __init__(self, old_root: Schema, new_root: Schema) -> None:
        self.old_root, self.new_root = old_root, new_root
        self.comparing: set[tuple[str, str]] = set()  # the references being compared

    def node(self, old: Any, new: Any, path: str) -> Iterator[Change]:
        refs = (_ref_of(old), _ref_of(new))
        if refs in self.comparing:  # a recursive model, met again inside itself
            return
        if any(refs):
            self.comparing.add(refs)
        try:
            yield from self.resolved(
                _resolve(self.old_root, old), _resolve(self.new_root, new), path
            )
        finally:
            self.comparing.discard(refs)

    def resolved(self, old: Schema, new: Schema, path: str) -> Iterator[Change]:
        # (Equal nodes are compared all the same: a `$ref` in them may point to a changed one.)
        yield from _annotations(old, new, path)
        if {"anyOf", "oneOf"} & (old.keys() | new.keys()):
            yield from _unmodelled(old, new, path)
        old_branches, new_branches = _branches(self.old_root, old), _branches(self.new_root, new)
        matched: set[str] = set()
        for kind, old_branch in old_branches.items():
            new_kind = kind if kind in new_branches else _wider(kind, new_branches)
            if new_kind is None:
                yield Change(path, _no_longer(kind, new_branches), True)
                continue
            matched.add(new_kind)
            if new_kind != kind:
                yield Change(path, f"type widened from {kind} to {new_kind}", True)
            yield from self.same_kind(new_kind, old_branch, new_branches[new_kind], path)
        for kind in new_branches.keys() - matched - old_branches.keys():
            if "any" in old_branches:
                continue
            what = "made nullable" if kind == "null" else f"type widened: {kind} now accepted"
            yield Change(path, what, True)

    def same_kind(self, kind: str, old: Schema, new: Schema, path: str) -> Iterator[Change]:
        if kind == "any" and old.keys() == new.keys() == set():
            return
        yield from _values(old, new, path)
        yield from _bounds(old, new, path)
        if kind == "array" or "items" in old or "items" in new:
            if old.get("uniqueItems") is not True and new.get("uniqueItems") is True:
                yield Change(path, "items must now be unique", True)
            if "items" in old or "items" in new:
                yield from self.node(old.get("items", {}), new.get("items", {}), f"{path}[]")
        if kind == "object" or "properties" in old or "properties" in new:
            yield from self.object(old, new, path)
        yield from _unmodelled(old, new, path)

    def object(self, old: Schema, new: Schema, path: str) -> Iterator[Change]:
        old_fields, new_fields = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
        prefix = f"{path}." if path else ""
        for name in [*old_fields, *(n for n in new_fields if n not in old_fields)]:
            field = f"{prefix}{name}"
            if name not in new_fields:
                if name in old_required:
                    yield Change(field, "required field removed", True)
                else:
                    yield Change(field, "optional field removed", False)
            elif name not in old_fields:
                if name in new_required:
                    yield Change(field, "required field added", True)
                else:
                    yield Change(field, "optional field added", False)
            else:
                if name in old_required and name not in new_required:
                    yield Change(field, "made optional: it was required", True)
                if name not in old_required and name in new_required:
                    yield Change(field, "made required: it was optional", True)
                yield from self.node(old_fields[name], new_fields[name], field)
        if _allows_more(old) and not _allows_more(new):
            yield Change(path, "additional properties now refused", True)
        elif not _allows_more(old) and _allows_more(new):
            yield Change(path, "additional properties now allowed", False)


def _unmodelled(old: Schema, new: Schema, path: str) -> Iterator[Change]:
    for keyword in sorted((old.keys() | new.keys()) - MODELLED):
        if old.get(keyword) != new.get(keyword):
            yield Change(path, f"`{keyword}` changed (the gate cannot tell how)", True)


def _ref_of(node: Any) -> str:
    return str(node.get("$ref", "")) if isinstance(node, Mapping) else ""


def _resolve(root: Schema, node: Any) -> Schema:
    """`node` with its `$ref` followed (a local JSON pointer); `true` is the empty schema."""
    if node is True:
        return {}
    while isinstance(node, Mapping) and "$ref" in node:
        ref = str(node["$ref"])
        if not ref.startswith("#"):
            raise ValueError(f"only local references can be compared, not {ref!r}")
        target: Any = root
        for part in filter(None, ref[1:].split("/")):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        node = {**target, **siblings}
    if not isinstance(node, Mapping):
        raise ValueError(f"not a schema: {node!r}")
    return node


def _branches(root: Schema, node: Schema) -> dict[str, Schema]:
    """The alternatives a schema accepts, by JSON type ("any" for an untyped one)."""
    found: dict[str, Schema] = {}
    alternatives = node.get("anyOf") or node.get("oneOf")
    if alternatives:
        # What stands beside the alternatives applies to each of them.
        beside = {k: v for k, v in node.items() if k not in _NOT_A_CONSTRAINT}
        for alternative in alternatives:
            found.update(_branches(root, {**beside, **_resolve(root, alternative)}))
        return found
    declared = node.get("type")
    kinds = declared if isinstance(declared, list) else [declared] if declared else []
    if not kinds and ("enum" in node or "const" in node):
        values = node["enum"] if "enum" in node else [node["const"]]
        kinds = sorted({_json_type(v) for v in values})
    for kind in kinds or ["any"]:
        found[kind] = node
    return found


_NOT_A_CONSTRAINT = {"anyOf", "oneOf", "default", *ANNOTATIONS}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _wider(kind: str, new: Mapping[str, Schema]) -> str | None:
    if kind == "integer" and "number" in new:
        return "number"
    return "any" if "any" in new else None


def _no_longer(kind: str, new: Mapping[str, Schema]) -> str:
    if kind == "null":
        return "made non-nullable: null no longer accepted"
    if kind == "number" and "integer" in new:
        return "type narrowed from number to integer"
    if kind == "any":
        return f"type narrowed: only {' or '.join(sorted(new))} accepted"
    return f"type narrowed: {kind} no longer accepted"


def _annotations(old: Schema, new: Schema, path: str) -> Iterator[Change]:
    for keyword in ("description", "examples", "deprecated"):  # not pydantic's titles: noise
        if old.get(keyword) != new.get(keyword):
            yield Change(path, f"{keyword} changed", False)
    if "default" not in old and "default" in new:
        yield Change(path, f"default {new['default']!r} added", True)
    elif "default" in old and "default" not in new:
        yield Change(path, f"default {old['default']!r} dropped", True)
    elif old.get("default") != new.get("default"):
        yield Change(path, f"default changed from {old['default']!r} to {new['default']!r}", True)


def _values(old: Schema, new: Schema, path: str) -> Iterator[Change]:
    if "enum" in new and "enum" not in old and "const" not in old:
        yield Change(path, f"type narrowed to an enum of {_listed(new['enum'])}", True)
    elif "enum" in old and "enum" in new:
        removed = [v for v in old["enum"] if v not in new["enum"]]
        added = [v for v in new["enum"] if v not in old["enum"]]
        if removed:
            yield Change(path, f"enum value removed: {_listed(removed)}", True)
        if added:
            yield Change(path, f"enum value added: {_listed(added)}", False)
    elif "enum" in old and "enum" not in new and "const" not in new:
        yield Change(path, "no longer an enum", False)
    if "const" in new and new.get("const") != old.get("const"):
        was = f"from {old['const']!r} " if "const" in old else ""
        yield Change(path, f"constant {was}now {new['const']!r}", True)
    elif "const" in old and "const" not in new:
        yield Change(path, "no longer a constant", False)


def _bounds(old: Schema, new: Schema, path: str) -> Iterator[Change]:
    for keyword in (*LOWER_BOUNDS, *UPPER_BOUNDS):
        was, now = old.get(keyword), new.get(keyword)
        if was == now:
            continue
        lower = keyword in LOWER_BOUNDS
        if now is None:
            yield Change(path, f"{keyword} {was} dropped", False)
        elif was is None:
            yield Change(path, f"{keyword} {now} added", True)
        elif (now > was) == lower:
            yield Change(
                path, f"{keyword} {'raised' if lower else 'lowered'} from {was} to {now}", True
            )
        else:
            yield Change(path, f"{keyword} relaxed from {was} to {now}", False)
    for keyword in EXACT:
        was, now = old.get(keyword), new.get(keyword)
        if was == now:
            continue
        if now is None:
            yield Change(path, f"{keyword} {was!r} dropped", False)
        elif was is None:
            yield Change(path, f"{keyword} {now!r} added", True)
        else:
            yield Change(path, f"{keyword} changed from {was!r} to {now!r}", True)


def _allows_more(schema: Schema) -> bool:
    return schema.get("additionalProperties", True) is not False


def _listed(values: list[Any]) -> str:
    return ", ".join(repr(v) for v in values)
