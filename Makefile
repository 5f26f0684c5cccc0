# The user interface of the project. Every target installs what it needs itself.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The local runtime's trainer environment (the trainer image's packages), refreshed when trainer/ changes.
TRAINER_STAMP := .venv-trainer/.installed
export MLFLOW_PORT ?= 5000
export SERVING_PORT ?= 8000
export CONTROL_PORT ?= 8010
export MLOPS_STACK ?= embedded

.PHONY: help install system-deps up down status demo test lint bench clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock ci/bootstrap.sh
	@bash ci/bootstrap.sh

$(TRAINER_STAMP): $(STAMP) ci/trainer-runtime.sh $(wildcard trainer/*.py trainer/*.yaml trainer/configs/*.json)
	@bash ci/trainer-runtime.sh

install: $(STAMP) $(TRAINER_STAMP) system-deps ## Create .venv, install pinned dependencies, system packages, tools and the pinned CRDs/Airflow chart
	@bash ci/install-tools.sh
	@$(PY) -m ci.fetch_vendor

system-deps:
	@bash ci/system-deps.sh postgresql prometheus alertmanager

up: install ## Start the local stack (MLflow, gateway, control API, Airflow; MLOPS_STACK=embedded|full) and wait until healthy
	@$(PY) -m ops.local.stack up

down: $(STAMP) ## Stop the processes the local stack started (keeps the data in .stack/)
	@$(PY) -m ops.local.stack down

status: $(STAMP) ## Show the local stack's services, pids, ports, health and the Airflow login
	@$(PY) -m ops.local.stack status

demo: up ## Run the whole loop through the local Airflow (commit trigger, canary, rollback); the stack stays up
	@$(PY) -m ops.local.demo

# pytest-xdist workers for `make test` (0: one process). Tests that share a started stack or one render
# run on one worker (tests/conftest.py marks their xdist group), so no stack starts twice; groups go
# out in collection order (the end-to-end tests, the heaviest group, first).
TEST_WORKERS ?= 2

test: install ## Run unit, integration and end-to-end tests (TEST_WORKERS=2 processes)
	@$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder --durations=15

lint: install ## ruff, yamllint, helm lint/render, manifest validation, policy checks
	@bash ci/lint.sh

bench: install ## Benchmark the serving gateway against mlflow serve, MLServer and KServe
	@bash ci/system-deps.sh wrk
	@$(PY) -m bench.serving

clean: down ## Remove the local stack's data (.stack/)
	rm -rf .stack
