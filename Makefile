# Two commands for users: `make run` (dashboard on the default dataset) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU wheel that this machine holds; elsewhere override, e.g. `make test TORCH=torch`.
TORCH ?= torch==2.13.0

.PHONY: setup run test lint browser clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	# CPU build of PyTorch first: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/pip install "$(TORCH)"
	$(BIN)/pip install -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/atomsieve dashboard --show

browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium) \
		|| echo "chromium could not be installed: browser tests will be skipped"

lint: setup
	$(BIN)/ruff check src tests benchmarks

test: setup browser lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
