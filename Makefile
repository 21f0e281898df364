# Lifeboat: `make run` brings the whole system up on its embedded default; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# Tests use a real broker: Redis unless CELERY_BROKER_URL says otherwise.
TEST_BROKER ?= redis://127.0.0.1:6379/15

.PHONY: install run test demo bench lint format contracts assets migrate clean

# Debian's chromium drives the browser tests (Playwright with executable_path; never `playwright install`).
CHROMIUM := /usr/bin/chromium
# The web-load benchmark's load generator (and its smoke test's): Debian's wrk, installed as root.
WRK := /usr/bin/wrk

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

# Idempotent: the binary's presence is the stamp.
$(CHROMIUM):
	@if [ "$$(id -u)" != 0 ]; then \
		echo "Debian's chromium is missing (the browser tests need $(CHROMIUM)). As root, run:"; \
		echo "  apt-get update && apt-get install -y --no-install-recommends chromium"; \
		exit 1; \
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
	@test -x $(CHROMIUM) || { echo "apt-get installed chromium but $(CHROMIUM) is missing"; exit 1; }

migrate: install
	$(PY) manage.py migrate --noinput -v 0

run: install migrate
	bin/run

# The browser tests need Debian's chromium: installed here (as root), not for `make run`.
test: install $(CHROMIUM) $(WRK)
	CELERY_BROKER_URL=$${CELERY_BROKER_URL:-$(TEST_BROKER)} $(PY) -m pytest $(PYTEST_ARGS)

demo: install
	bin/demo $(if $(SCENARIO),--scenario $(SCENARIO)) $(if $(VENUE),--venue $(VENUE))

$(WRK):
	@if [ "$$(id -u)" != 0 ]; then echo "Debian's wrk is missing (the web-load benchmark needs $(WRK)). As root: apt-get install -y wrk"; exit 1; fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk
	@test -x $(WRK) || { echo "apt-get installed wrk but $(WRK) is missing"; exit 1; }

bench: install $(WRK)
	$(PY) benchmarks/run.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

contracts: $(NODE_STAMP)
	node contracts/build.mjs

# The pages' JavaScript, bundled from npm packages and committed (tests/web/test_assets.py checks it is fresh).
assets: $(NODE_STAMP)
	node web/assets/build.mjs

clean:
	rm -rf var/celery var/*.sqlite3* var/devchain.json var/celerybeat-schedule* var/snapshothub.sqlite3* var/snapshothub.log var/snapshothub.ready
