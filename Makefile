# Two commands matter: `make demo` and `make test`. See README.md.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST := 127.0.0.1
PORT := 8000

# make test runs against real services; these are the local defaults
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: demo demo-data screenshots test check install install-dev clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required; run: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# SQLite and in-process tasks: no PostgreSQL, Redis or worker needed
demo demo-data screenshots: export DATABASE_URL :=
demo demo-data screenshots: export REDIS_URL :=

# the demo's data: synthetic samples through a watched directory, a campaign, simulated raters
demo-data: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py create_campaign demo --name "Demo: checkability game vs baseline" \
		--run checkability-game --run correctness-only --judgments-per-item 3 --seed 1 --exist-ok
	$(BIN)/python manage.py simulate_raters --campaign demo --raters 12 --judgments 60 \
		--concurrency 4 --time-scale 0.001

demo: demo-data
	$(BIN)/python manage.py create_staff admin
	$(BIN)/python manage.py create_raters --campaign demo --count 1 --print-logins
	@echo "Serving on http://$(HOST):$(PORT)/ (Ctrl-C stops)"
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

# the README's screenshots, from the demo in headless Chromium (/usr/bin/chromium)
screenshots: install-dev demo-data
	$(BIN)/python manage.py take_screenshots --campaign demo --out docs/screenshots

test: install-dev
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" \
	REDIS_URL="$${REDIS_URL:-$(TEST_REDIS_URL)}" \
	$(BIN)/python -m pytest

check: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .mypy_cache .ruff_cache .hypothesis
