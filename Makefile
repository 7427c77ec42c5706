# Two commands: `make run` (set up, then the main job) and `make test` (set up, lint, all tests).
PYTHON ?= python3.11
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup lint clean

setup: $(STAMP)

# torch first, pinned: the CPU wheel on disk; any other resolution pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[compress,serve,worker,test]'
	touch $(STAMP)

# The local stack on the embedded defaults: one worker (SQLite broker under var/) and the gateway
# serving the shipped demo family (model_repository/) on http://127.0.0.1:3000, in process on the CPU.
# The job endpoints take the bearer token GANC_API_TOKEN (for this local stack: local-dev-token).
run: export GANC_API_TOKEN ?= local-dev-token
run: setup
	$(BIN)/ganc worker --loglevel WARNING & trap "kill $$! 2>/dev/null" EXIT INT TERM; \
	$(BIN)/ganc serve --host 127.0.0.1 --port 3000 --repo model_repository

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
