# Lifeboat: `make run` brings the whole system up on its embedded default; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# Tests use a real broker: Redis unless CELERY_BROKER_URL says otherwise.
TEST_BROKER ?= redis://127.0.0.1:6379/15

.PHONY: install run test demo bench lint format contracts migrate clean

install: $(VENV_STAMP) $(NODE_STAMP)

$(VENV_STAMP): requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is not installed: install Python 3.11 (e.g. apt-get install python3.11 python3.11-venv)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is not installed: apt-get install nodejs npm"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

migrate: install
	$(PY) manage.py migrate --noinput -v 0

run: install migrate
	bin/run

test: install
	CELERY_BROKER_URL=$${CELERY_BROKER_URL:-$(TEST_BROKER)} $(PY) -m pytest $(PYTEST_ARGS)

demo: install
	bin/demo $(if $(VENUE),--venue $(VENUE))

bench: install
	$(PY) benchmarks/run.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

contracts: $(NODE_STAMP)
	node contracts/build.mjs

clean:
	rm -rf var/celery var/*.sqlite3* var/devchain.json var/celerybeat-schedule* var/snapshothub.sqlite3* var/snapshothub.log var/snapshothub.ready
