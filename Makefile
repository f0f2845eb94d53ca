# Quick start: `make demo` (set up and serve the demo) and `make test` (set up and run every test).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHROMIUM ?= /usr/bin/chromium

.PHONY: demo test lint setup chromium redis clean-demo

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

setup: $(VENV)/.runtime

# Debian's chromium for the browser tests (Playwright never downloads a browser here).
chromium:
	@test -x $(CHROMIUM) || { command -v apt-get >/dev/null || { echo "Install Chromium and set CHROMIUM=/path/to/it"; exit 1; }; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; }

# Debian's redis-server for the test of the queue in Redis (docs/scaling.md); the app itself does not need it.
redis:
	@command -v redis-server >/dev/null || { command -v apt-get >/dev/null || { echo "Install redis-server"; exit 1; }; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q redis-server; }

# axe-core for the accessibility browser test, at the version package-lock.json pins (Debian's npm if none).
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { command -v apt-get >/dev/null || { echo "Install Node.js and npm (the accessibility test runs axe-core)"; exit 1; }; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q npm; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: $(VENV)/.runtime
	$(BIN)/flask --app app init-db
	$(BIN)/flask --app app zeuge demo
	$(BIN)/flask --app app run

lint: $(VENV)/.dev
	$(BIN)/ruff check .

# pytest exits 5 when it collects no test: that is a failure here, never a green run.
test: $(VENV)/.dev node_modules/.installed chromium redis lint
	@$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; exit 1; fi; exit $$rc

clean-demo:
	rm -rf instance
