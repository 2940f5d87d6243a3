#!/bin/sh
# Like AWS's /lambda-entrypoint.sh: outside Lambda (no AWS_LAMBDA_RUNTIME_API) the
# runtime interface emulator serves the invoke API on :8080 and runs the handler
# ("$1", the image's CMD) through the runtime interface client.
set -e
cd "${LAMBDA_TASK_ROOT:-/var/task}"
if [ -z "${AWS_LAMBDA_RUNTIME_API:-}" ]; then
  exec /usr/local/bin/aws-lambda-rie python3 -m awslambdaric "$@"
fi
exec python3 -m awslambdaric "$@"
