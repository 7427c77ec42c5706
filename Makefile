# Two commands: `make run` (set up, then the main job) and `make test` (set up, lint, all tests).
# scripts/setup does the setting up: .venv for both, and for the tests Debian's redis-server, prometheus
# and chromium (it installs them as root, and names the command to run otherwise).
PYTHON ?= python3.11
export PYTHON
SHELL := /bin/bash
BIN := .venv/bin

.PHONY: run test setup setup-test lint clean

setup:
	scripts/setup run

setup-test:
	scripts/setup test

# The local stack on the embedded defaults: one worker (SQLite broker under var/) and the gateway
# serving the shipped demo family (model_repository/) on http://127.0.0.1:3000, in process on the CPU.
# The job endpoints take the bearer token GANC_API_TOKEN: for this local stack a random one, made once
# into var/api-token (print it with `cat var/api-token`).
run: setup var/api-token
	export GANC_API_TOKEN=$${GANC_API_TOKEN:-$$(cat var/api-token)}; \
	$(BIN)/ganc worker --loglevel WARNING & trap "kill $$! 2>/dev/null" EXIT INT TERM; \
	$(BIN)/ganc serve --host 127.0.0.1 --port 3000 --repo model_repository

var/api-token:
	mkdir -p var && (umask 077 && $(PYTHON) -c 'import secrets; print(secrets.token_hex(24))' > $@)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: setup-test lint
	$(BIN)/pytest -q

clean:
	rm -rf .venv .pytest_cache .ruff_cache
