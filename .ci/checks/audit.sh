#!/usr/bin/env bash
# pip-audit: known vulnerabilities in our Python dependencies.
#
# Audits uv.lock when it exists and uv is on PATH (the pinned set CI and the images
# install), else the installed environment (.venv, where `make setup` put pip-audit
# with the [test] extra). Fails on any known vulnerability unless its ID is listed in
# .ci/checks/audit-ignore.txt with a reason. The vulnerability data comes from PyPI's
# JSON API: when PyPI cannot be reached the check warns and passes, so an outage does
# not fail CI (it is not a finding either way).
#
#   PIP_AUDIT   the pip-audit command (default: .venv/bin/pip-audit)
#   extra arguments go to pip-audit (e.g. --format json, --desc)
set -euo pipefail
cd "$(dirname "$0")/../.."

PIP_AUDIT=${PIP_AUDIT:-.venv/bin/pip-audit}
IGNORE_FILE=${AUDIT_IGNORE_FILE:-.ci/checks/audit-ignore.txt}
PYPI=${PIP_AUDIT_PROBE_URL:-https://pypi.org/pypi/pip/json}

warn() { echo "audit: WARNING: $*" >&2; }

if ! command -v "$PIP_AUDIT" >/dev/null 2>&1 && [ ! -x "$PIP_AUDIT" ]; then
  echo "audit: $PIP_AUDIT not found; run make setup (pip-audit is in the [test] extra)" >&2
  exit 2
fi

# Each ignored ID needs a reason: "<ID> <reason…>", '#' starts a comment.
ignores=()
if [ -f "$IGNORE_FILE" ]; then
  while read -r id reason; do
    [ -z "$id" ] && continue
    if [ -z "$reason" ]; then
      echo "audit: $IGNORE_FILE: $id has no reason; write why it does not apply" >&2
      exit 2
    fi
    ignores+=(--ignore-vuln "$id")
  done < <(sed -e 's/#.*//' "$IGNORE_FILE")
fi

if ! python3 - "$PYPI" <<'PY'
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=10).close()
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
    sys.exit(1)
PY
then
  warn "PyPI ($PYPI) is unreachable; dependencies NOT audited"
  exit 0
fi

target=()
if [ -f uv.lock ] && command -v uv >/dev/null 2>&1; then
  requirements=$(mktemp)
  trap 'rm -f "$requirements"' EXIT
  uv export --frozen --all-packages --all-extras --no-emit-workspace --no-hashes --format requirements-txt \
    >"$requirements"
  # Pinned and complete already: no resolver, no temporary virtualenv.
  target=(--requirement "$requirements" --no-deps --disable-pip)
  echo "audit: uv.lock" >&2
else
  echo "audit: the installed environment${PIPAPI_PYTHON_LOCATION:+ of $PIPAPI_PYTHON_LOCATION}" >&2
fi

report=$(mktemp)
errors=$(mktemp)
trap 'rm -f "$report" "$errors" ${requirements:-}' EXIT
status=0
"$PIP_AUDIT" --vulnerability-service pypi --skip-editable --progress-spinner off \
  --format json --output "$report" "${target[@]}" "${ignores[@]}" "$@" 2>"$errors" || status=$?
if [ ! -s "$report" ]; then
  cat "$errors" >&2
  if grep -qiE 'ConnectionError|ConnectTimeout|ReadTimeout|Max retries exceeded|NameResolution|ServiceError' "$errors"; then
    warn "the vulnerability service failed mid-run; dependencies NOT audited"
    exit 0
  fi
  echo "audit: pip-audit failed (exit $status)" >&2
  exit "${status/#0/1}"
fi
exec python3 .ci/checks/audit_report.py "$report"
