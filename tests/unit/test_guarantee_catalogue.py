"""The mutation gate's catalogue (tests/mutation) still fits the code: each change applies
to exactly one place and still compiles, and each test it names is still there. Checked
here, in seconds, so a refactor that moves a line finds out at once, not at the gate."""

import re
from pathlib import Path

import pytest

from tests.mutation.catalogue import CATALOGUE, Mutation
from tests.mutation.gate import fastest_first, why_not_applicable

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("mutation", CATALOGUE, ids=lambda m: m.id)
def test_each_mutation_changes_exactly_one_place_and_still_compiles(mutation: Mutation) -> None:
    assert why_not_applicable(ROOT, mutation) is None
    assert mutation.find != mutation.replace
    source = (ROOT / mutation.file).read_text()
    compile(source.replace(mutation.find, mutation.replace), mutation.file, "exec")


@pytest.mark.parametrize("mutation", CATALOGUE, ids=lambda m: m.id)
def test_each_test_a_mutation_names_exists(mutation: Mutation) -> None:
    assert mutation.tests, "a mutation no test is meant to catch"
    for test in mutation.tests:
        path, _, name = test.partition("::")
        assert (ROOT / path).is_file(), test
        if name:
            function = re.escape(name.split("[", 1)[0])
            assert re.search(rf"^(async )?def {function}\(", (ROOT / path).read_text(), re.M), test


def test_mutation_ids_are_unique_and_the_quick_catalogue_is_not_empty() -> None:
    ids = [m.id for m in CATALOGUE]
    assert len(ids) == len(set(ids))
    assert any(m.quick for m in CATALOGUE)


def test_the_gate_runs_unit_tests_before_integration_before_end_to_end() -> None:
    tests = ["tests/e2e/a.py", "tests/integration/b.py", "tests/unit/c.py", "tests/unit/d.py"]
    assert fastest_first([*tests, "tests/unit/c.py"]) == [
        "tests/unit/c.py",
        "tests/unit/d.py",
        "tests/integration/b.py",
        "tests/e2e/a.py",
    ]
