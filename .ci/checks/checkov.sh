#!/usr/bin/env bash
# checkov over terraform/ - must report zero failed checks.
# Runs in its own virtualenv under .tools/ (created on first use, rebuilt when
# checkov-requirements.txt changes). Findings that do not apply are skipped
# inline in the resource with "#checkov:skip=CKV_...:reason".
# Extra arguments go to checkov (e.g. --check CKV_AWS_158, -o json).
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=.tools/checkov-venv
REQS=.ci/checks/checkov-requirements.txt
STAMP="$VENV/.requirements.sha256"
want="$(sha256sum "$REQS" | cut -d' ' -f1)"

if [ ! -x "$VENV/bin/checkov" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  echo "checkov: installing into $VENV" >&2
  if [ -x .tools/uv/bin/uv ]; then  # the uv make setup fetched: seconds instead of a minute
    .tools/uv/bin/uv venv --quiet --allow-existing --python python3 "$VENV"
    .tools/uv/bin/uv pip install --quiet --python "$VENV/bin/python" -r "$REQS"
  else
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQS"
  fi
  echo "$want" > "$STAMP"
fi

# --skip-download: no Bridgecrew/Prisma platform calls, only the bundled checks.
exec "$VENV/bin/checkov" -d terraform --framework terraform \
  --skip-download --quiet --compact "$@"
