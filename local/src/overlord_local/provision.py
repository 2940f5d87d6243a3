"""Create what the flow needs in an AWS-like environment: bucket, log group, secret, Batch.

Used by `make dev` (against moto server), by LocalStack's init hook (run with
LocalStack's own Python, so this file imports only the standard library and
boto3), and by tests. Every step is idempotent.

    python bootstrap.py --only s3,logs,secret,sqs,batch [--tasks DIR] [--worker-image IMG]
        [--task-image TASK=IMAGE ...]

The job definitions come from the task catalogue (``contracts/tasks/*.json``), one per
task, named ``overlord-<task>``, made by the one builder the product uses too,
``overlord_contracts.catalogue.job_definition`` (Terraform's
``terraform/modules/batch/tasks.tf`` is held equal by tests/infra/test_catalogue_definitions.py).
The steps that need no definitions run with nothing but the standard library and boto3.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import boto3

STEPS = ("s3", "logs", "secret", "sqs", "batch")
LOG_GROUP = "/aws/batch/job"
SECRET_NAME = "overlord/mongodb-uri"  # noqa: S105 - a name, not a secret
COMPUTE_ENVIRONMENT = "overlord-local"
# The Batch rule's queue and its dead-letter queue, as terraform/modules/events makes
# them (there: visibility 6 x the recorder's timeout; here shorter, to see retries).
EVENTS_QUEUE = "overlord-batch-events"
EVENTS_VISIBILITY_TIMEOUT = 30
EVENTS_MAX_RECEIVE_COUNT = 5


def tasks_dir() -> Path:
    """The catalogue, as overlord_contracts.files finds it (not imported, so that this module
    runs with nothing but boto3: inside LocalStack, mounted at /opt/overlord/provision.py).
    Mounted as a single file it has no repository around it: the default is then only
    computed, never read (the hook's steps need no definitions)."""
    if os.environ.get("OVERLORD_TASKS_DIR"):
        return Path(os.environ["OVERLORD_TASKS_DIR"])
    here = Path(__file__).resolve()
    root = here.parents[3] if len(here.parents) > 3 else here.parent
    return Path(os.environ.get("OVERLORD_CONTRACTS_DIR") or root / "contracts") / "tasks"


def load_definitions(
    worker_image: str,
    directory: Path | None = None,
    task_images: dict[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """The catalogue's job definitions, by name (overlord-<task>)."""
    # Imported here: LocalStack's init hook runs this file with nothing but boto3, for
    # steps that need no definitions.
    from overlord_contracts import catalogue

    images = task_images or {}
    definitions = [
        catalogue.job_definition(task, worker_image=worker_image, image=images.get(name))
        for name, task in catalogue.load(directory or tasks_dir()).items()
    ]
    return {d["jobDefinitionName"]: d for d in definitions}


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


def ensure_event_queues(
    name: str = EVENTS_QUEUE,
    visibility_timeout: int = EVENTS_VISIBILITY_TIMEOUT,
    max_receive_count: int = EVENTS_MAX_RECEIVE_COUNT,
) -> str:
    """The events queue with a redrive policy to `<name>-dlq`; returns its URL."""
    sqs = boto3.client("sqs")
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})
    attributes = {"VisibilityTimeout": str(visibility_timeout), "RedrivePolicy": redrive}
    url = str(sqs.create_queue(QueueName=name)["QueueUrl"])
    sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)  # idempotent on a re-run
    return url


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


def ensure_batch(
    queue: str,
    definitions: dict[str, Any],
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
    for definition in definitions.values():
        batch.register_job_definition(**definition)
    return queue_arn


def run(
    steps: list[str], tasks: Path, worker_image: str, task_images: dict[str, str]
) -> dict[str, str]:
    env = os.environ
    out: dict[str, str] = {}
    if "s3" in steps:
        ensure_bucket(env.get("RESULTS_BUCKET", "overlord-results"))
    if "logs" in steps:
        ensure_log_group()
    if "secret" in steps and env.get("MONGODB_URI"):
        out["MONGODB_SECRET_ARN"] = ensure_secret(env["MONGODB_URI"])
    if "sqs" in steps:
        out["EVENTS_QUEUE_URL"] = ensure_event_queues()
    if "batch" in steps:
        out["JOB_QUEUE_ARN"] = ensure_batch(
            env.get("JOB_QUEUE", "overlord"), load_definitions(worker_image, tasks, task_images)
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default=",".join(STEPS), help=f"comma-separated steps out of {', '.join(STEPS)}"
    )
    parser.add_argument("--tasks", type=Path, default=None, help="the task catalogue directory")
    parser.add_argument(
        "--worker-image", default=os.environ.get("WORKER_IMAGE", "overlord-worker:local")
    )
    parser.add_argument(
        "--task-image",
        action="append",
        default=[],
        metavar="TASK=IMAGE",
        help="run this image task with another image than its catalogue file names",
    )
    args = parser.parse_args(argv)
    steps = [s for s in args.only.split(",") if s]
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        parser.error(f"unknown steps: {', '.join(unknown)}")
    task_images = dict(item.partition("=")[::2] for item in args.task_image)
    for key, value in run(steps, args.tasks or tasks_dir(), args.worker_image, task_images).items():
        print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
