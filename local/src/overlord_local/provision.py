"""Create what the flow needs in an AWS-like environment: bucket, log group, secret, Batch.

Used by `make dev` (against moto server), by LocalStack's init hook (run with
LocalStack's own Python, so this file imports only the standard library and
boto3), and by tests. Every step is idempotent.

    python bootstrap.py --only s3,logs,secret,batch [--definitions FILE] [--worker-image IMG]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import boto3

STEPS = ("s3", "logs", "secret", "batch")
LOG_GROUP = "/aws/batch/job"
SECRET_NAME = "overlord/mongodb-uri"  # noqa: S105 - a name, not a secret
COMPUTE_ENVIRONMENT = "overlord-local"
# The same file overlord_local.contracts names; not imported, so that this module runs
# with nothing but boto3 (inside LocalStack, mounted at /opt/overlord/provision.py).
# Mounted as a single file (LocalStack's hook), it has no repository around it: the
# default is then only computed, never read (the hook's steps need no definitions).
_HERE = Path(__file__).resolve()
DEFAULT_DEFINITIONS = (
    Path(
        os.environ.get("OVERLORD_CONTRACTS_DIR")
        or (_HERE.parents[3] if len(_HERE.parents) > 3 else _HERE.parent) / "contracts"
    )
    / "job-definitions.json"
)


def _exists_error(exc: Exception, *codes: str) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    return code in codes


def ensure_bucket(name: str) -> None:
    s3 = boto3.client("s3")
    region = s3.meta.region_name
    kwargs: dict[str, Any] = {"Bucket": name}
    if region and region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**kwargs)
    except Exception as exc:
        if not _exists_error(exc, "BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise


def ensure_log_group(name: str = LOG_GROUP) -> None:
    try:
        boto3.client("logs").create_log_group(logGroupName=name)
    except Exception as exc:
        if not _exists_error(exc, "ResourceAlreadyExistsException"):
            raise


def ensure_secret(value: str, name: str = SECRET_NAME) -> str:
    sm = boto3.client("secretsmanager")
    try:
        return str(sm.create_secret(Name=name, SecretString=value)["ARN"])
    except Exception as exc:
        if not _exists_error(exc, "ResourceExistsException"):
            raise
    sm.put_secret_value(SecretId=name, SecretString=value)
    return str(sm.describe_secret(SecretId=name)["ARN"])


def _service_role_arn() -> str:
    """An IAM role for the compute environment (moto checks that it exists)."""
    iam = boto3.client("iam")
    name = "overlord-local-batch-service"
    try:
        return str(iam.get_role(RoleName=name)["Role"]["Arn"])
    except Exception as exc:
        if not _exists_error(exc, "NoSuchEntity"):
            raise
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "batch.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    return str(
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(policy))["Role"]["Arn"]
    )


def load_definitions(path: Path = DEFAULT_DEFINITIONS) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def ensure_batch(
    queue: str,
    definitions: dict[str, Any],
    worker_image: str,
    max_vcpus: int = 2,
    service_role: bool = True,
) -> str:
    """Compute environment, job queue and job definitions; returns the queue ARN."""
    batch = boto3.client("batch")
    if not batch.describe_compute_environments(computeEnvironments=[COMPUTE_ENVIRONMENT])[
        "computeEnvironments"
    ]:
        kwargs: dict[str, Any] = {
            "computeEnvironmentName": COMPUTE_ENVIRONMENT,
            "type": "UNMANAGED",
            "state": "ENABLED",
            "unmanagedvCpus": max_vcpus,
        }
        if service_role:
            kwargs["serviceRole"] = _service_role_arn()
        batch.create_compute_environment(**kwargs)
    found = batch.describe_job_queues(jobQueues=[queue])["jobQueues"]
    if found:
        queue_arn = str(found[0]["jobQueueArn"])
    else:
        queue_arn = str(
            batch.create_job_queue(
                jobQueueName=queue,
                state="ENABLED",
                priority=1,
                computeEnvironmentOrder=[{"order": 1, "computeEnvironment": COMPUTE_ENVIRONMENT}],
            )["jobQueueArn"]
        )
    for name, definition in definitions.items():
        body = json.loads(json.dumps(definition))
        body["containerProperties"]["image"] = worker_image
        batch.register_job_definition(jobDefinitionName=name, **body)
    return queue_arn


def run(steps: list[str], definitions_path: Path, worker_image: str) -> dict[str, str]:
    env = os.environ
    out: dict[str, str] = {}
    if "s3" in steps:
        ensure_bucket(env.get("RESULTS_BUCKET", "overlord-results"))
    if "logs" in steps:
        ensure_log_group()
    if "secret" in steps and env.get("MONGODB_URI"):
        out["MONGODB_SECRET_ARN"] = ensure_secret(env["MONGODB_URI"])
    if "batch" in steps:
        out["JOB_QUEUE_ARN"] = ensure_batch(
            env.get("JOB_QUEUE", "overlord"), load_definitions(definitions_path), worker_image
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default=",".join(STEPS), help=f"comma-separated steps out of {', '.join(STEPS)}"
    )
    parser.add_argument("--definitions", type=Path, default=DEFAULT_DEFINITIONS)
    parser.add_argument(
        "--worker-image", default=os.environ.get("WORKER_IMAGE", "overlord-worker:local")
    )
    args = parser.parse_args(argv)
    steps = [s for s in args.only.split(",") if s]
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        parser.error(f"unknown steps: {', '.join(unknown)}")
    for key, value in run(steps, args.definitions, args.worker_image).items():
        print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
