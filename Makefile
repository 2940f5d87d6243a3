# Overlord — one target per thing a person does. `make help` lists them.
SHELL := bash
.DEFAULT_GOAL := help

BASE_PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PYTHON := $(abspath $(PY))

.PHONY: help setup lock dev dev-rie test test-fast lint types checks infra-checks tools bench soak \
        bench-array localbatch deploy clean e2e-chaos

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_%-]+:.*## ' $(MAKEFILE_LIST) | sort | \
	  awk -F':.*## ' '{printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

# ---------------------------------------------------------------- set-up
# The virtualenv comes from uv.lock (both distributions editable, plus the [test] extra),
# installed by uv: pinned here and fetched once into .tools/uv (UV=uv to use your own).
UV_VERSION := 0.13.9
UV ?= .tools/uv/bin/uv

.tools/uv/bin/uv:
	$(BASE_PYTHON) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
	  --target .tools/uv uv==$(UV_VERSION)

# --locked: a uv.lock that no longer matches the pyprojects fails here (run `make lock`)
$(VENV)/.installed: pyproject.toml local/pyproject.toml contracts/pyproject.toml uv.lock | $(UV)
# --reinstall-package overlord-local: the `overlord` command moved from the root pyproject
# to local/'s; a sync that drops the old one would otherwise leave none (cheap: editable).
# --compile-bytecode: uv leaves .pyc to the first import, and where PYTHONDONTWRITEBYTECODE
# is set (containers, CI) that never comes: every process, each array child of `make
# dev` included, compiles what it imports from source (docs/performance.md).
	$(UV) sync --locked --all-packages --extra test --python $(BASE_PYTHON) --quiet \
	  --reinstall-package overlord-local --compile-bytecode
	touch $@

LOCK_EXPORT := export --frozen --no-dev --no-emit-workspace --quiet
lock: | $(UV) ## Refresh uv.lock and the images' requirements/*.txt (UPGRADE=1: newest versions)
	$(UV) lock $(if $(UPGRADE),--upgrade)
	$(UV) $(LOCK_EXPORT) --package overlord -o requirements/product.txt
	$(UV) $(LOCK_EXPORT) --package overlord-local -o requirements/local.txt

setup: $(VENV)/.installed tools ## Create the virtualenv and build the Go tools (done by dev/test too)

tools: $(VENV)/.installed ## Build FerretDB, the Lambda runtime emulator and actionlint into .tools/bin (once)
	$(PY) -m overlord_local.devstack.gotools ferretdb aws-lambda-rie actionlint

# ------------------------------------------------------------------- run
# FerretDB (when MONGODB_URI is not set) and the emulator are built by `overlord dev` itself,
# so that a machine without Go gets its explanation rather than make's.
dev: $(VENV)/.installed ## Run the whole flow locally, no Docker (Ctrl-C stops it)
	$(VENV)/bin/overlord dev

dev-rie: $(VENV)/.installed ## Same, with the Lambdas under the Lambda runtime emulator
	$(VENV)/bin/overlord dev --rie

localbatch: $(VENV)/.installed ## Only the local Batch server, on :8000
	$(PY) -m overlord_local.localbatch --queue overlord --tasks contracts/tasks

# ------------------------------------------------------------------ test
lint: $(VENV)/.installed ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

types: $(VENV)/.installed ## mypy on our packages
	$(VENV)/bin/mypy

# OVERLORD_CHAOS_SEED=N replays a seed; E2E_ARGS for pytest (e.g. -k in-process).
e2e-chaos: $(VENV)/.installed tools ## The e2e suite on `overlord dev --chaos`, then the invariants on its databases
	OVERLORD_CHAOS=1 PATH=$(abspath $(VENV))/bin:$$PATH $(PY) -m pytest tests/e2e -q $(E2E_ARGS)

test-fast: $(VENV)/.installed ## Unit tests only (no servers)
	$(PY) -m pytest tests/unit -q

infra-checks: $(VENV)/.installed ## Compose, Dockerfiles, Terraform fmt, checkov and the dependency audit
	$(PY) .ci/checks/composecheck.py compose.yaml
	PATH=$(abspath $(VENV))/bin:$$PATH $(PY) .ci/checks/dockerfilecheck.py
	.ci/checks/terraform-fmt.sh
	.ci/checks/checkov.sh
	PATH=$(abspath $(dir $(UV))):$$PATH PIP_AUDIT=$(VENV)/bin/pip-audit .ci/checks/audit.sh

# The suite runs on TEST_WORKERS pytest-xdist workers (most tests wait on servers, not
# the CPU); the tests that share a stack stay on one worker (tests/conftest.py:
# xdist_group). The IAM and metric coverage tests read every worker's recorded AWS
# calls and metrics, so they run after them, from the same files. TEST_WORKERS=0: one process, as plain `pytest`.
TEST_WORKERS ?= 4
PYTEST_FLAGS ?= --durations=25
LAST_TESTS := tests/infra/test_iam_coverage.py tests/infra/test_metric_coverage.py
test: $(VENV)/.installed tools ## Everything CI runs: lint, types, all tests, infrastructure checks
	$(MAKE) --no-print-directory lint types
	calls=$$(mktemp -d "$${TMPDIR:-/tmp}/overlord-aws-calls.XXXXXX")/calls.jsonl; \
	export TEST_AWS_CALL_LOG=$$calls PATH=$(abspath $(VENV))/bin:$(abspath .tools/bin):$$PATH; \
	$(PY) -m pytest $(PYTEST_FLAGS) -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder \
	  $(addprefix --ignore=,$(LAST_TESTS)) && \
	$(PY) -m pytest -q $(LAST_TESTS)
	$(MAKE) --no-print-directory infra-checks

# BENCH_ARGS=--quick: every row small, in seconds (what CI runs); --preload N: the second
# pass's extra jobs (10,000). docs/performance.md holds the last full table.
bench: $(VENV)/.installed tools ## Overlord's overhead as ratios on the local stack (docs/performance.md)
	$(PY) -m bench.table $(BENCH_ARGS)

# One array of ARRAY_SIZE echo items on its own `overlord dev` (issue 19: 10,000 in
# ≤ 15 min on 2 cores): POST → job ended, each child's record checked, dead letters, CPU
# by process and peak MongoDB connections against the budget; exits 1 if any is wrong.
ARRAY_SIZE ?= 10000
bench-array: $(VENV)/.installed tools ## An array of ARRAY_SIZE echo items on make dev, its record checked (docs/performance.md)
	$(PY) bench/array_dev.py --accept 0 --size $(ARRAY_SIZE)

# Simulated histories (tests/simulation; docs/reliability.md): STORE=fake|mongo (mongo: a
# FerretDB of its own), SEED (default: a fresh one, printed), CHUNK histories per seed,
# MINUTES: start no chunk after it, WORKERS: processes running chunks side by side (each
# with its own FerretDB; the same SEED runs the same chunks whatever their number).
STORE ?= fake
HISTORIES ?= 10000
CHUNK ?= 2000
WORKERS ?= 1
soak: $(VENV)/.installed tools ## Run HISTORIES simulated histories on STORE from SEED; a failure prints its replay
	$(PY) -m tests.simulation.soak --store $(STORE) --histories $(HISTORIES) --chunk $(CHUNK) \
	  --workers $(WORKERS) $(if $(SEED),--seed $(SEED)) $(if $(MINUTES),--minutes $(MINUTES))

# ---------------------------------------------------------------- deploy
ENV ?= dev
deploy: ## Build and push the images, then terraform apply (needs AWS credentials)
	ENV=$(ENV) terraform/scripts/deploy.sh

clean: ## Remove local state (.overlord/); keeps the virtualenv and tools
	rm -rf .overlord

include mk/docker.mk
