# Two commands do all set-up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
SANDBOX_PKGS := bubblewrap:bwrap socat:socat util-linux:setpriv
BROWSER_PKGS := chromium:chromium

.PHONY: run test lint format venv sandbox-runtime clean

$(STAMP): requirements.txt requirements-dev.txt requirements.lock
	@test -x $(PY) || "$$(scripts/find-python)" -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt -c requirements.lock
	@touch $@

venv: $(STAMP)

# The Python candidate code runs on inside the sandbox: only anthropic and pydantic (idempotent).
sandbox-runtime: venv
	@scripts/build-sandbox-runtime

run: venv ## The app with demo data on SQLite and an embedded broker: http://127.0.0.1:8000/
	@scripts/install-system-deps $(SANDBOX_PKGS)
	@scripts/build-sandbox-runtime
	@scripts/run-dev

test: venv ## The whole suite (DATABASE_URL / CELERY_BROKER_URL choose PostgreSQL / Redis)
	@scripts/install-system-deps $(SANDBOX_PKGS) $(BROWSER_PKGS)
	@scripts/build-sandbox-runtime
	@mkdir -p var/static
	$(PY) -m pytest $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf var/test-* var/screenshots .pytest_cache
