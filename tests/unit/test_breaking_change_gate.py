"""The breaking-change gate (`python -m shared.contract.breaking_changes`) over whole
releases: the code against docs/schemas/released/, a released version gone, a new version
with and without its upcaster, a breaking change made right, and the command's exit codes
and `--release`. (Which changes break: tests/unit/test_compatibility.py.)"""

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from shared.contract.breaking_changes import (
    RELEASED,
    ROOT,
    Key,
    judge,
    main,
    released_schemas,
    report,
)
from shared.contract.breaking_changes import current_schemas as code_schemas

V1, V2, V3 = ("OrderPlaced", "1"), ("OrderPlaced", "2"), ("OrderPlaced", "3")


def current() -> dict[Key, dict[str, Any]]:
    return code_schemas()


def without(schema: dict[str, Any], name: str) -> dict[str, Any]:
    changed = copy.deepcopy(schema)
    del changed["properties"][name]
    changed["required"].remove(name)
    return changed


def test_the_code_serves_every_released_version() -> None:
    released = released_schemas(ROOT / RELEASED)

    verdicts = judge(released, current())

    assert set(released) == {V1, V2, ("StockReserved", "1"), ("StockRejected", "1")}
    assert [v for v in verdicts if v.fails] == [], report(verdicts)


def test_a_released_version_gone_from_the_code_fails() -> None:
    schemas = current()
    released = dict(schemas)
    del schemas[V1]

    verdicts = judge(released, schemas)
    text = report(verdicts)

    assert [(v.event_type, v.version, v.status) for v in verdicts if v.fails] == [
        ("OrderPlaced", "1", "REMOVED")
    ]
    assert "OrderPlaced v1       REMOVED: released, and gone from the code" in text


def test_a_new_version_of_a_released_type_needs_an_upcaster_from_the_one_before() -> None:
    schemas = current()
    released = {key: schemas[key] for key in schemas if key != V2}

    without_upcaster = judge(released, schemas, upcasters=set())
    with_upcaster = judge(released, schemas, upcasters={V1})

    (failed,) = [v for v in without_upcaster if v.fails]
    assert (failed.event_type, failed.version, failed.status) == ("OrderPlaced", "2", "NO UPCASTER")
    assert "UPCASTERS[('OrderPlaced', '1')]" in report(without_upcaster)
    assert [v for v in with_upcaster if v.fails] == []
    assert "OrderPlaced v2       new: a new version, upcast from v1" in report(with_upcaster)


def test_a_new_event_type_needs_no_upcaster() -> None:
    schemas = current()
    released = {key: schema for key, schema in schemas.items() if key[0] != "StockRejected"}

    verdicts = judge(released, schemas, upcasters=set())

    assert [v for v in verdicts if v.fails] == []
    assert "StockRejected v1     new: a new event type" in report(verdicts)


def test_a_breaking_change_passes_only_as_a_new_version_with_its_upcaster() -> None:
    schemas = current()
    broken = without(schemas[V2], "customer_id")

    in_place = judge(schemas, {**schemas, V2: broken})
    as_v3 = judge(schemas, {**schemas, V3: broken}, upcasters={V1, V2})
    as_v3_without_upcaster = judge(schemas, {**schemas, V3: broken}, upcasters={V1})

    assert [(v.version, v.status) for v in in_place if v.fails] == [("2", "BREAKING")]
    assert "customer_id: required field removed [BREAKING]" in report(in_place)
    assert [v for v in as_v3 if v.fails] == []
    assert [(v.version, v.status) for v in as_v3_without_upcaster if v.fails] == [
        ("3", "NO UPCASTER")
    ]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / RELEASED, tmp_path / RELEASED)
    return tmp_path


def test_the_command_passes_on_this_repository(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "PASSED" in capsys.readouterr().out


def test_the_command_fails_with_a_report_naming_the_field(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # As if the release had a required field the code has since dropped.
    path = repo / RELEASED / "StockRejected.v1.json"
    released = json.loads(path.read_text())
    released["properties"]["warehouse"] = {"type": "string"}
    released["required"].append("warehouse")
    path.write_text(json.dumps(released))

    assert main(["--root", str(repo)]) == 1
    out = capsys.readouterr().out
    assert "StockRejected v1     BREAKING" in out
    assert "warehouse: required field removed [BREAKING]" in out
    assert "FAILED: 1 published version(s) would break their consumers." in out


def test_release_writes_the_current_schemas_only_when_the_gate_passes(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    released = repo / RELEASED
    (released / "OrderPlaced.v2.json").unlink()
    stale = (released / "OrderPlaced.v1.json").read_text()
    (released / "OrderPlaced.v1.json").write_text(
        json.dumps(without(json.loads(stale), "customer_id"))
    )

    # v1 released without customer_id: the code added a required field, which fails.
    assert main(["--root", str(repo), "--release"]) == 1
    assert not (released / "OrderPlaced.v2.json").exists()

    (released / "OrderPlaced.v1.json").write_text(stale)
    assert main(["--root", str(repo), "--release"]) == 0
    assert "released docs/schemas/released/OrderPlaced.v2.json" in capsys.readouterr().out
    assert released_schemas(released) == current()
