#!/usr/bin/env bash
# Smoke test of a running stack (make up): submit an echo job over HTTP, poll the
# job until it is SUCCEEDED, then check its log line in MongoDB (GET /jobs/{id}/logs
# reads the logs collection) and its result object in S3 on LocalStack.
# Exits non-zero on FAILED, after the deadline, or when either is missing.
#   OVERLORD_API_URL  base URL of the gateway (default http://localhost:8080)
#   LOCALSTACK_URL    LocalStack's S3 from the host (default http://localhost:4566)
#   SMOKE_TIMEOUT     seconds to wait for SUCCEEDED (default 180)
# Requests are signed (SigV4) with the stack's credentials (compose.yaml: test/test), as
# the gateway checks them like the deployed API's IAM auth.
set -euo pipefail

api="${OVERLORD_API_URL:-http://localhost:8080}"
localstack="${LOCALSTACK_URL:-http://localhost:${LOCALSTACK_PORT:-4566}}"
deadline=$(( $(date +%s) + ${SMOKE_TIMEOUT:-180} ))
sign=(--aws-sigv4 "aws:amz:${AWS_REGION:-us-east-1}:execute-api" --user "${AWS_ACCESS_KEY_ID:-test}:${AWS_SECRET_ACCESS_KEY:-test}")
# A fresh message each run, so the job id (a hash of the input) is new too.
message="smoke $(date +%s)-$$"
body=$(printf '{"task": "echo", "parameters": {"message": "%s"}}' "$message")

json_field() {  # json_field FIELD[.FIELD...]  < json
  python3 -c '
import json, sys
value = json.load(sys.stdin)
for name in sys.argv[1].split("."):
    value = value.get(name) if isinstance(value, dict) else None
print(value or "")' "$1"
}

succeeded() {
  local logs uri
  echo "smoke: $job_id SUCCEEDED"
  logs=$(curl -fsS "${sign[@]}" "$api/jobs/$job_id/logs?kind=log")
  if ! grep -qF "$message" <<<"$logs"; then
    echo "smoke: no log line with \"$message\" in MongoDB: $logs" >&2
    exit 1
  fi
  echo "smoke: log line in MongoDB"
  uri=$(curl -fsS "${sign[@]}" "$api/jobs/$job_id" | json_field result.uri)
  case "$uri" in
    s3://*) ;;
    *) echo "smoke: no result URI on the job" >&2; exit 1 ;;
  esac
  if ! curl -fsS "$localstack/${uri#s3://}" | grep -qF "$message"; then
    echo "smoke: $uri not in S3 on LocalStack, or without the message" >&2
    exit 1
  fi
  echo "smoke: result $uri in S3 on LocalStack"
  echo "smoke: OK"
  exit 0
}

echo "POST $api/jobs $body"
response=$(curl -fsS "${sign[@]}" -X POST "$api/jobs" -H 'content-type: application/json' -d "$body")
echo "$response"
job_id=$(json_field job_id <<<"$response")
if [ -z "$job_id" ]; then
  echo "smoke: no job_id in the response" >&2
  exit 1
fi

status=""
while [ "$(date +%s)" -lt "$deadline" ]; do
  status=$(curl -fsS "${sign[@]}" "$api/jobs/$job_id" | json_field status) || status=""
  echo "$job_id: ${status:-?}"
  case "$status" in
    SUCCEEDED) succeeded ;;
    FAILED) echo "smoke: job FAILED" >&2; curl -fsS "${sign[@]}" "$api/jobs/$job_id" >&2 || true; exit 1 ;;
  esac
  sleep 2
done
echo "smoke: $job_id not SUCCEEDED after ${SMOKE_TIMEOUT:-180}s (last status: ${status:-none})" >&2
exit 1
