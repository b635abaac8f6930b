"""What schemathesis is told beyond the OpenAPI documents (loaded by
test_api_schemathesis through SCHEMATHESIS_HOOKS): two rules of the API that JSON Schema
cannot state, applied to the requests it generates, in every phase.

- An integer is written without a fraction: the request models are strict, so `1.0` is not
  a quantity, while JSON Schema counts it as an integer. (Neutral for a request meant to
  be invalid: `1.0` breaks no JSON Schema rule that `1` keeps.)
- An order names each sku on one line at most: JSON Schema has no uniqueness by property.
  Only requests meant to be valid are changed, so a body meant to break a rule still does."""

from typing import Any

import schemathesis
from schemathesis import Case, GenerationMode, HookContext


@schemathesis.hook
def map_case(context: HookContext, case: Case) -> Case:
    case.body = _without_integral_floats(case.body)
    positive = case.meta is None or case.meta.generation.mode == GenerationMode.POSITIVE
    if positive and (case.method.upper(), case.path) == ("POST", "/orders"):
        case.body = _one_line_per_sku(case.body)
    return case


def _without_integral_floats(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_without_integral_floats(item) for item in value]
    if isinstance(value, dict):
        return {key: _without_integral_floats(item) for key, item in value.items()}
    return value


def _one_line_per_sku(body: Any) -> Any:
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return body
    seen: set[str] = set()
    kept = []
    for line in items:
        sku = line.get("sku") if isinstance(line, dict) else None
        if isinstance(sku, str):
            if sku in seen:
                continue
            seen.add(sku)
        kept.append(line)
    return {**body, "items": kept}
