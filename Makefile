# Everything runs from .venv, which `make install` creates; `run` and `test` install on
# first use, so a fresh clone needs no other step.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-unit test-integration test-e2e test-faults test-compose bench \
	lint format clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: install
	@mkdir -p var
	$(BIN)/python -m shared.process.dev_runner

test: install
	$(BIN)/pytest -q tests/unit tests/integration tests/e2e tests/faults

test-unit: install
	$(BIN)/pytest -q tests/unit

test-integration: install
	$(BIN)/pytest -q tests/integration

test-e2e: install
	$(BIN)/pytest -q tests/e2e

test-faults: install
	$(BIN)/pytest -q tests/faults

# The container stack, built and exercised end to end (needs a Docker engine).
test-compose: install
	$(BIN)/pytest -q tests/compose

# Throughput, latency and footprint against a raw aio-pika baseline, in one run.
bench: install
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	$(BIN)/python -m benchmarks

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
