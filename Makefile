# The two commands a newcomer needs (see README):
#   make run    set everything up and run the service under gunicorn (SQLite, bundled content)
#   make test   set everything up and run the whole test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test setup setup-dev node elm expressions guideline content lint conformance \
        bench bench-engine bench-apply bench-load soak package clean

$(VENV)/bin/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Runtime dependencies only: the running service needs neither Node nor the test tools.
$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(RUN_STAMP)

setup: $(RUN_STAMP)

node: cql/node_modules/.package-lock.json

cql/node_modules/.package-lock.json: cql/package-lock.json
	cd cql && npm ci --no-audit --no-fund

setup-dev: $(DEV_STAMP) node
	scripts/install-test-tools.sh

# Local run: bound to 127.0.0.1, client JWT verification off unless CDS_AUTH=jwt is given
# (the service logs a warning). Metrics as in production: gunicorn.conf.py makes a temporary
# PROMETHEUS_MULTIPROC_DIR (removed on exit) unless one is given. Production settings:
# docs/deploy.md.
run: setup
	CDS_AUTH=$${CDS_AUTH:-off} $(BIN)/gunicorn -c deploy/gunicorn.conf.py 'service.app:create_app()'

test: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

# Content authoring: CQL -> ELM, inline PlanDefinition expressions, the clinician's guideline view.
elm: node
	cd cql && node scripts/translate.mjs

expressions: setup node
	$(BIN)/python -m tools.expressions

guideline: setup
	$(BIN)/python -m tools.guideline_doc

content: elm expressions guideline

package: setup
	$(BIN)/python -m tools.package

conformance: setup node
	$(BIN)/python -m tools.conformance ../shared/conformance/cql-tests

lint: setup-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Benchmarks print their figures; they are never timed assertions in tests.
bench-engine: setup-dev node
	$(BIN)/python -m benchmarks.engine_bench

bench-apply: setup
	$(BIN)/python -m benchmarks.apply_bench

bench-load: setup
	scripts/install-bench-tools.sh
	$(BIN)/python -m benchmarks.load_cdshooks

soak: setup
	$(BIN)/python -m benchmarks.soak

bench: bench-engine bench-apply bench-load soak

clean:
	rm -rf $(VENV) cql/node_modules .pytest_cache
