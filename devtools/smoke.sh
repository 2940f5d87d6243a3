#!/usr/bin/env bash
# Smoke test of a running stack (make up): submit an echo job over HTTP and poll
# the job until it is SUCCEEDED. Exits non-zero on FAILED or after the deadline.
#   OVERLORD_API_URL  base URL of the gateway (default http://localhost:8080)
#   SMOKE_TIMEOUT     seconds to wait for SUCCEEDED (default 180)
set -euo pipefail

api="${OVERLORD_API_URL:-http://localhost:8080}"
deadline=$(( $(date +%s) + ${SMOKE_TIMEOUT:-180} ))
# A fresh message each run, so the job id (a hash of the input) is new too.
body=$(printf '{"task": "echo", "parameters": {"message": "smoke %s-%s"}}' "$(date +%s)" "$$")

json_field() {  # json_field FIELD  < json
  python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1]) or "")' "$1"
}

echo "POST $api/jobs $body"
response=$(curl -fsS -X POST "$api/jobs" -H 'content-type: application/json' -d "$body")
echo "$response"
job_id=$(json_field job_id <<<"$response")
if [ -z "$job_id" ]; then
  echo "smoke: no job_id in the response" >&2
  exit 1
fi

status=""
while [ "$(date +%s)" -lt "$deadline" ]; do
  status=$(curl -fsS "$api/jobs/$job_id" | json_field status) || status=""
  echo "$job_id: ${status:-?}"
  case "$status" in
    SUCCEEDED) echo "smoke: OK"; exit 0 ;;
    FAILED) echo "smoke: job FAILED" >&2; curl -fsS "$api/jobs/$job_id" >&2 || true; exit 1 ;;
  esac
  sleep 2
done
echo "smoke: $job_id not SUCCEEDED after ${SMOKE_TIMEOUT:-180}s (last status: ${status:-none})" >&2
exit 1
