"""LocalStack READY hook: results bucket, log group and the MongoDB URI secret.

LocalStack runs ``ready.d/*.py`` inside its own Python interpreter (see its
"Initialization Hooks" reference), so ``sys.executable`` is LocalStack's
virtualenv, which has boto3. The logic itself lives in one place,
``local/src/overlord_local/provision.py`` (compose.yaml mounts it at
/opt/overlord/bootstrap.py); this hook only runs it in a child process, so the
bootstrap's own argv, logging and imports never touch LocalStack's process and a
non-zero exit raises here, which marks the hook ERROR in
``/_localstack/init/ready`` (and so fails the compose healthcheck).
"""

import os
import subprocess
import sys

BOOTSTRAP = os.environ.get("OVERLORD_BOOTSTRAP", "/opt/overlord/bootstrap.py")

env = dict(os.environ)
# Inside the LocalStack container the gateway is on localhost:4566.
env.setdefault("AWS_ENDPOINT_URL", "http://localhost:4566")
env.setdefault("AWS_ACCESS_KEY_ID", "test")
env.setdefault("AWS_SECRET_ACCESS_KEY", "test")
env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
env.setdefault("AWS_REGION", env["AWS_DEFAULT_REGION"])

subprocess.run(
    [sys.executable, BOOTSTRAP, "--only", "s3,logs,secret,sqs"],
    env=env,
    check=True,
    timeout=120,
)
