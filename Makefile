# make run   - install what is missing, start every process of configs/local.toml
# make test  - install what is missing, run the whole suite (browser tests included)
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
CONFIG ?= configs/local.toml
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
UI_SOURCES := $(shell find ui/src ui/index.html ui/vite.config.* ui/tsconfig*.json -type f 2>/dev/null)
# npm ci writes this file last: the UI's packages are installed as the lock file says.
UI_DEPS := ui/node_modules/.package-lock.json

.PHONY: install python-deps ui ui-deps browser etcd run test lint format bench clean clean-data

install: python-deps ui

python-deps: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

ui: ui/dist/index.html

ui-deps: $(UI_DEPS)

$(UI_DEPS): ui/package.json ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund --loglevel=error
	touch $@

ui/dist/index.html: $(UI_DEPS) $(UI_SOURCES)
	cd ui && npm run build

# Browser tests drive Debian's Chromium (a browser download of the test tool's own is not used).
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

# The coordinator's tests run a real etcd: Debian's etcd-server (3.4).
etcd:
	@command -v etcd >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq etcd-server; }

# Every process of the config's host HOST under bourse's own supervisor: one that dies is
# started again (with back-off) while the others serve; Ctrl-C stops them all cleanly.
HOST ?= local

# A config with a [coordinator] (standbys, configs/ha-local.toml) needs etcd installed.
run: install $(if $(shell grep -s '^\[coordinator\]' $(CONFIG)),etcd)
	$(BIN)/bourse --config $(CONFIG) config check
	$(BIN)/bourse --config $(CONFIG) keys init
	$(BIN)/bourse --config $(CONFIG) run --host $(HOST) --announce

test: install browser etcd
	cd ui && npm test --silent
	$(BIN)/pytest -q

# The UI's: biome (format and lint) and tsc.
lint: python-deps ui-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict
	cd ui && npm run lint --silent

format: python-deps ui-deps
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	cd ui && npm run format --silent

# Every script of bench/ that runs on its own (helpers such as bench/proc.py do not), as a
# module from the project's root so that it imports the project by name; bench/alternate.py
# compares two variants of another one and needs to be told which.
BENCHES := $(filter-out alternate,$(basename $(notdir $(shell grep -l '^if __name__ == "__main__":' bench/*.py))))

bench: install etcd
	@for name in $(BENCHES); do echo "== bench/$$name.py"; $(BIN)/python -m bench.$$name || exit 1; done

# Build output only: the exchange's data (journals, snapshots, keys) stays.
clean:
	rm -rf $(VENV) ui/node_modules ui/dist

# The exchange's data: every journal and snapshot (users' balances and orders), the feed's
# history and the bus's keys.  Gone for good.
DATA_DIR := $(or $(BOURSE_DATA_DIR),data)
clean-data:
	@echo "deleting $(DATA_DIR)/: every journal and snapshot (users, balances, orders), the feed's history and the keys"
	rm -rf $(DATA_DIR)
