# Every target creates or reuses .venv by itself. Each step leaves a stamp in .venv, so a second
# run installs nothing; editing pyproject.toml redoes the steps that depend on it.
#   make install / demo / bench: the package and what running it needs (torch first)
#   make test:                   + the test tools (extras [test,ray]), chromium and tmux when missing
#   make lint / format:          + the linters (extra [lint]: ruff, import-linter, mypy)
PYTHON ?= python3
VENV ?= .venv
# A bare torch requirement pulls a several-GB CUDA build; pin the CPU wheel first (override: make install TORCH=torch).
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
STAMP := $(VENV)/.attninspect-installed
TEST_STAMP := $(VENV)/.attninspect-test
LINT_STAMP := $(VENV)/.attninspect-lint
DEMO_TEXT := The cat sat on the mat because it was warm.

.PHONY: install demo test lint format bench clean browser tmux

$(BIN)/python:
	@echo "==> creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# torch first, on its own: the big step (the CPU wheel is about 200 MB; the rest follows it).
$(STAMP): pyproject.toml | $(BIN)/python
	@echo "==> [1/2] installing $(TORCH) (the largest package, about 200 MB)"
	$(PIP) install "$(TORCH)"
	@echo "==> [2/2] installing attninspect and what running it needs (transformers, textual, matplotlib, ...)"
	$(PIP) install -e .
	touch $@
	@echo "==> installed: run $(BIN)/attninspect, or . $(BIN)/activate and then attninspect"

$(TEST_STAMP): $(STAMP)
	@echo "==> installing the test tools (extras [test] and [ray]: pytest, hypothesis, pandas, playwright, ray, ...)"
	$(PIP) install -e ".[test,ray]"
	touch $@

$(LINT_STAMP): $(STAMP)
	@echo "==> installing the linters (extra [lint]: ruff, import-linter, mypy)"
	$(PIP) install -e ".[lint]"
	touch $@

install: $(STAMP)

demo: install
	$(BIN)/attninspect run "$(DEMO_TEXT)" --focus it

# The HTML page is tested in Debian's chromium; install it when missing (as root, with apt-get).
browser:
	@if ! command -v chromium >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "==> installing chromium (apt-get) for the HTML page's browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi

# The explorer's terminal test drives Debian's tmux; install it only when it is missing.
tmux:
	@command -v tmux >/dev/null 2>&1 || { \
		echo "==> installing tmux (apt-get) for the explorer's terminal test"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq tmux; }

test: $(TEST_STAMP) browser tmux
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest

lint: $(LINT_STAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(LINT_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	HF_HUB_OFFLINE=1 $(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .mypy_cache .import_linter_cache snapshot_report.html
