# Overlord — one target per thing a person does. `make help` lists them.
SHELL := bash
.DEFAULT_GOAL := help

BASE_PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PYTHON := $(abspath $(PY))

.PHONY: help setup dev dev-rie test test-fast lint types checks infra-checks tools bench \
        localbatch deploy clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_%-]+:.*## ' $(MAKEFILE_LIST) | sort | \
	  awk -F':.*## ' '{printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

# ---------------------------------------------------------------- set-up
$(VENV)/.installed: pyproject.toml local/pyproject.toml
	test -x $(PY) || $(BASE_PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]' -e ./local
	touch $@

setup: $(VENV)/.installed tools ## Create the virtualenv and build the Go tools (done by dev/test too)

tools: $(VENV)/.installed ## Build FerretDB and the Lambda runtime emulator into .tools/bin (once)
	$(PY) -m overlord_local.devstack.gotools ferretdb aws-lambda-rie

# ------------------------------------------------------------------- run
# FerretDB (when MONGODB_URI is not set) and the emulator are built by `overlord dev` itself,
# so that a machine without Go gets its explanation rather than make's.
dev: $(VENV)/.installed ## Run the whole flow locally, no Docker (Ctrl-C stops it)
	$(VENV)/bin/overlord dev

dev-rie: $(VENV)/.installed ## Same, with the Lambdas under the Lambda runtime emulator
	$(VENV)/bin/overlord dev --rie

localbatch: $(VENV)/.installed ## Only the local Batch server, on :8000
	$(PY) -m overlord_local.localbatch --queue overlord \
	  --job-definitions contracts/job-definitions.json

# ------------------------------------------------------------------ test
lint: $(VENV)/.installed ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

types: $(VENV)/.installed ## mypy on our packages
	$(VENV)/bin/mypy

test-fast: $(VENV)/.installed ## Unit tests only (no servers)
	$(PY) -m pytest tests/unit -q

infra-checks: $(VENV)/.installed ## Compose, Dockerfiles, Terraform fmt, checkov and the dependency audit
	$(PY) tests/infra/composecheck.py compose.yaml
	PATH=$(abspath $(VENV))/bin:$$PATH $(PY) tests/infra/dockerfilecheck.py
	.ci/checks/terraform-fmt.sh
	.ci/checks/checkov.sh
	PIP_AUDIT=$(VENV)/bin/pip-audit .ci/checks/audit.sh

test: $(VENV)/.installed tools ## Everything CI runs: lint, types, all tests, infrastructure checks
	$(MAKE) --no-print-directory lint types
	PATH=$(abspath $(VENV))/bin:$$PATH $(PY) -m pytest
	$(MAKE) --no-print-directory infra-checks

bench: $(VENV)/.installed tools ## End-to-end latency benchmark on the local stack
	$(PY) bench/e2e_latency.py

# ---------------------------------------------------------------- deploy
ENV ?= dev
deploy: ## Build and push the images, then terraform apply (needs AWS credentials)
	ENV=$(ENV) terraform/scripts/deploy.sh

clean: ## Remove local state (.overlord/); keeps the virtualenv and tools
	rm -rf .overlord

include mk/docker.mk
