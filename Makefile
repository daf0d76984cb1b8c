# Two commands do all set-up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
SANDBOX_PKGS := bubblewrap:bwrap socat:socat util-linux:setpriv
BROWSER_PKGS := chromium:chromium
# WeasyPrint (the scorecard PDF) needs pango, harfbuzz's subsetter and a font; the tests read its first page with pdftoppm.
PDF_PKGS := libpango-1.0-0:libpango-1.0.so.0 libpangoft2-1.0-0:libpangoft2-1.0.so.0 \
	libharfbuzz-subset0:libharfbuzz-subset.so.0 fonts-dejavu-core:/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
PDF_TEST_PKGS := poppler-utils:pdftoppm

.PHONY: run test test-fast lint format venv sandbox-runtime clean verify

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
	@scripts/install-system-deps $(SANDBOX_PKGS) $(PDF_PKGS)
	@scripts/build-sandbox-runtime
	@scripts/run-dev

test: venv ## The whole suite (DATABASE_URL / CELERY_BROKER_URL choose PostgreSQL / Redis)
	@scripts/install-system-deps $(SANDBOX_PKGS) $(BROWSER_PKGS) $(PDF_PKGS) $(PDF_TEST_PKGS)
	@scripts/build-sandbox-runtime
	@mkdir -p var/static
	$(PY) -m pytest --durations=30 $(PYTEST_ARGS)

# The edit-test loop: the suite without real gradings, the Celery worker and Chromium, in under
# 2 minutes on two cores. A test that does real sandbox or grading work for seconds is marked slow.
FAST := not slow and not worker and not browser
test-fast: venv ## The suite without the slow, worker and browser tests (PYTEST_ARGS narrows it further)
	@scripts/install-system-deps $(SANDBOX_PKGS) $(PDF_PKGS) $(PDF_TEST_PKGS)
	@scripts/build-sandbox-runtime
	@mkdir -p var/static
	$(PY) -m pytest -m "$(FAST)" $(PYTEST_ARGS)

verify: venv ## Every exercise package graded in the sandbox, as before a release (help-desk 2.0: ~26 min on two cores)
	@scripts/install-system-deps $(SANDBOX_PKGS)
	@scripts/build-sandbox-runtime
	@for d in exercises/*/ exercises/previous/*/ tests/fixtures/exercises/order-extractor/; do \
	  if [ -f "$$d/exercise.toml" ]; then DEBUG=1 $(PY) manage.py exercise verify "$$d" || exit 1; fi; \
	done

lint: venv ## Style (ruff), the layers (import-linter), and types (mypy)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf var/test-* var/screenshots .pytest_cache
