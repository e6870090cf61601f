# The README's two commands: `make up` runs the platform, `make test` passes the tests.
# Both set up the virtual environment first, so they work on a fresh machine.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help up up-services lint lint-style lint-types test test-unit test-e2e chaos bench schemas clean

## make help: every target with what it does
help:
	@grep -E '^## make [a-z0-9-]+:' $(MAKEFILE_LIST) | sed 's/^## make //' | \
		awk -F': ' '{ printf "  %-16s %s\n", $$1, substr($$0, length($$1) + 3) }'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[local,test]'
	touch $(STAMP)

## make checkov-venv: checkov in its own virtual environment (it pins boto3 and replaces hcl2),
## created once from .ci/checkov-requirements.txt; tests/deploy/test_checkov.py runs it
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.PHONY: checkov-venv
checkov-venv: $(CHECKOV_STAMP)

$(CHECKOV_STAMP): .ci/checkov-requirements.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r .ci/checkov-requirements.txt
	touch $(CHECKOV_STAMP)

## make localstack: LocalStack in its own virtual environment (.venv-localstack, Python 3.13),
## created once from localstack/requirements.txt; the services mode starts it on :4566
LOCALSTACK_VENV := .venv-localstack
LOCALSTACK_STAMP := $(LOCALSTACK_VENV)/.installed
# LocalStack needs Python 3.13: on PATH, or under pyenv as on these machines.
# (pyenv's shim answers `command -v` even where 3.13 is not the active version: try each.)
PYTHON_LOCALSTACK ?= $(shell for p in $$HOME/.pyenv/versions/3.13*/bin/python3.13 $$(command -v python3.13); do "$$p" -c '' 2>/dev/null && { echo "$$p"; break; }; done)

.PHONY: localstack
localstack: $(LOCALSTACK_STAMP)

$(LOCALSTACK_STAMP): localstack/requirements.txt localstack/constraints.txt
	@test -n "$(PYTHON_LOCALSTACK)" || { echo "LocalStack needs Python 3.13: install it (pyenv install 3.13) or set PYTHON_LOCALSTACK" >&2; exit 1; }
	$(PYTHON_LOCALSTACK) -m venv $(LOCALSTACK_VENV)
	$(LOCALSTACK_VENV)/bin/pip install --quiet --disable-pip-version-check \
		-r localstack/requirements.txt -c localstack/constraints.txt
	touch $(LOCALSTACK_STAMP)

## make up: the embedded default (SQLite, in-process cache and AWS endpoint) on :8080
up: $(STAMP)
	$(BIN)/paystream up

## make up-services: PostgreSQL, Redis, LocalStack on :4566 (moto on :4569 for DynamoDB), one
## process per function
up-services: $(STAMP) $(LOCALSTACK_STAMP)
	$(BIN)/paystream up --services

## make lint: lint-style and lint-types; CI runs it before the tests
lint: lint-style lint-types

## make lint-style: ruff's rules and its formatting check over the project
lint-style: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## make lint-types: mypy, as configured in pyproject.toml, and each function's main.py
lint-types: $(STAMP)
	$(BIN)/mypy
	@# Each function is a module named `main`: mypy takes them one at a time, with a cache of
	@# their own (sharing the run above's left it with stale results for schemas/).
	@for source in functions/*/main.py; do \
		$(BIN)/mypy --no-warn-unused-configs --no-error-summary --cache-dir .mypy_cache/functions "$$source" || exit 1; \
	done

## make test: every test (PostgreSQL on 127.0.0.1:5432 and Redis on :6379 must be running),
## in TEST_WORKERS processes (pytest-xdist; each test starts what it needs on free ports)
TEST_WORKERS ?= 2
test: $(STAMP) $(CHECKOV_STAMP) $(LOCALSTACK_STAMP)
	$(BIN)/pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

## make test-unit: the unit and contract tests only (no PostgreSQL, Redis or AWS endpoint)
test-unit: $(STAMP)
	$(BIN)/pytest tests/unit tests/contract $(PYTEST_ARGS)

## make test-e2e: the end-to-end tests only, through both local ways to run
test-e2e: $(STAMP)
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

## make chaos: the long fault-injection run (tests/chaos; `make test` runs a 10-second one).
## CHAOS_SECONDS of random payments while functions are killed, connections dropped, the AWS
## endpoint cut off and events redelivered; then the books are checked and the figures printed.
CHAOS_SECONDS ?= 300
CHAOS_USERS ?= 12
CHAOS_WORKERS ?= 4
CHAOS_RATE ?= 3
chaos: $(STAMP)
	PAYSTREAM_CHAOS_SECONDS=$(CHAOS_SECONDS) PAYSTREAM_CHAOS_USERS=$(CHAOS_USERS) \
	PAYSTREAM_CHAOS_WORKERS=$(CHAOS_WORKERS) PAYSTREAM_CHAOS_RATE=$(CHAOS_RATE) \
	$(BIN)/pytest tests/chaos -m chaos -s -p no:cacheprovider --timeout $$(( $(CHAOS_SECONDS) * 3 + 600 )) $(PYTEST_ARGS)

## make bench: every benchmark (bench/RESULTS.md records their figures): the sustained rate of
## both local ways to run with the endpoints' ceiling, API latency under 200 clients, the ledger
## against pgbench, and the acceptance rate under a burst
bench: $(STAMP) $(LOCALSTACK_STAMP)
	$(BIN)/python bench/sustained_payments.py
	$(BIN)/python bench/api_latency.py
	$(BIN)/python bench/ledger_transfers.py
	$(BIN)/python bench/e2e_payments.py

## make schemas: regenerate schemas/json and docs/openapi.json from the models
schemas: $(STAMP)
	$(BIN)/python -m schemas.export

## make clean: remove run data and test caches
clean:
	rm -rf var .pytest_cache .hypothesis

## make trace-agent: Datadog's APM test agent on :8126 (web UI on :8127), to see traces locally
.PHONY: trace-agent
trace-agent: $(STAMP)
	$(BIN)/ddapm-test-agent --port 8126 --web-ui-port 8127
