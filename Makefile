# Everything runs from .venv, which `make install` creates; `run` and `test` install on
# first use, so a fresh clone needs no other step.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-unit test-integration test-e2e test-faults test-compose bench \
	lint format clean asyncapi contracts check-prometheus mutate mutate-quick browser test-browser \
	test-rabbitmq4 test-cluster migrate

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: install
	@mkdir -p var
	$(BIN)/python -m shared.process.dev_runner

# Two pytest workers (a file's tests stay together on one): most tests wait on processes,
# the broker and the databases, not on the CPU, and every test has its own vhost and
# databases. The fault suite runs alone afterwards: it loads the machine on purpose, and one
# of its tests stops the broker for everyone.
test: install browser
	$(BIN)/pytest -q -n 2 --dist loadfile tests/unit tests/integration tests/e2e tests/browser
	$(BIN)/pytest -q tests/faults

test-unit: install
	$(BIN)/pytest -q tests/unit

test-integration: install
	$(BIN)/pytest -q tests/integration

test-e2e: install
	$(BIN)/pytest -q tests/e2e

test-faults: install
	$(BIN)/pytest -q tests/faults

# The integration, end-to-end and fault suites again, against RabbitMQ 4.0 in a container of
# their own (free loopback ports, removed afterwards; needs a Docker engine). A deprecation
# warning in that broker's log fails the run. RABBITMQ_IMAGE picks another broker. Split
# as `test` is: two workers, then the fault suite alone.
RABBITMQ_IMAGE ?= rabbitmq:4.0-management
test-rabbitmq4: install
	$(BIN)/python -m tests.support.broker_container --image $(RABBITMQ_IMAGE) -- sh -c \
		'$(BIN)/pytest -q -n 2 --dist loadfile tests/integration tests/e2e && $(BIN)/pytest -q tests/faults'

# Debian's Chromium for tests/browser, where it is missing (Playwright drives it; its own
# browser download is not reachable here and not used).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test-browser: install browser
	$(BIN)/pytest -q tests/browser

# The container stack, built and exercised end to end (needs a Docker engine).
test-compose: install
	$(BIN)/pytest -q tests/compose

# The cluster profile (docker/compose.cluster.yml): three broker nodes, one killed and
# restarted after another under a steady load of orders (needs a Docker engine).
test-cluster: install
	$(BIN)/pytest -q tests/cluster

# Each service's database brought to its code's migrations (SERVICES="order inventory"
# for some; each at <SERVICE>_DATABASE_URL, else its default under var/).
migrate: install
	$(BIN)/python -m shared.process.migrate $(SERVICES)

# Throughput, latency and footprint against a raw aio-pika baseline, in one run.
bench: install
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	$(BIN)/python -m benchmarks

# The contract as documents (docs/asyncapi.yaml, docs/asyncapi.md, docs/schemas/), made
# from the code.
asyncapi: install
	$(BIN)/python -m shared.contract.asyncapi

# The documents are the code's, and no published event changed incompatibly since the
# last release (docs/schemas/released/).
contracts: install
	$(BIN)/python -m shared.contract.asyncapi --check
	$(BIN)/python -m shared.contract.breaking_changes

# Prometheus's configuration, alert rules and their unit tests, with promtool from the
# image the stack runs (needs a Docker engine; `make test-compose` builds the image here).
check-prometheus:
	docker run --rm --entrypoint sh -v "$$PWD/docker/prometheus:/etc/prometheus:ro" \
		prom/prometheus:v3.5.0 /etc/prometheus/check.sh

# Guarantee-breaking changes applied to a scratch copy, one at a time: each must be caught
# by the tests meant to catch it (tests/mutation). `mutate-quick` is the CI subset.
mutate: install
	$(BIN)/python -m tests.mutation

mutate-quick: install
	$(BIN)/python -m tests.mutation --quick

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
