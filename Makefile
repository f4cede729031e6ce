# The two commands a newcomer needs (see README):
#   make run    set everything up and run the service under gunicorn (SQLite, bundled content)
#   make test   set everything up and run the whole test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup setup-dev node elm lint format bench package clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

node: cql/node_modules/.package-lock.json

cql/node_modules/.package-lock.json: cql/package-lock.json
	cd cql && npm ci --no-audit --no-fund

setup-dev: setup node
	scripts/install-test-tools.sh

run: setup
	$(BIN)/gunicorn -c deploy/gunicorn.conf.py 'service.app:create_app()'

test: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

elm: node
	cd cql && node scripts/translate.mjs

lint:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: setup node
	$(BIN)/python -m benchmarks.run_all

package: setup
	$(BIN)/python -m service.knowledge.package

clean:
	rm -rf $(VENV) cql/node_modules .pytest_cache
