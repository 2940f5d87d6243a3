"""A failing task and a timed-out one behave the same under the Docker executor (the
worker image, as `make up` runs it) as under the process executor (`make dev`): same
states, attempts, exit codes, reasons, log lines and result documents."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from overlord_contracts.bucket_layout import result_key
from overlord_local.localbatch import DockerExecutor, LocalBatchServer, ProcessExecutor, Timings
from overlord_local.provision import load_definitions
from tests.conftest import skip_or_fail
from tests.localbatch.conftest import CREDENTIALS, wait_for
from tests.localbatch.test_docker_executor import worker_image

pytestmark = pytest.mark.docker

BUCKET = "parity-results"
# a 60 s attempt timeout lasts 12 s: the container must have printed its first line by
# then, and under load (2 cores, load 8) 3 s was not always enough to start it
TIMEOUT_SCALE = 0.2


@pytest.fixture(scope="module")
def docker_client() -> Any:
    from overlord_local.localbatch.executors.docker_executor import docker_sdk

    try:
        client = docker_sdk().from_env(timeout=3)
        client.ping()
    except Exception:
        skip_or_fail("no Docker engine answers")
    return client


@pytest.fixture(scope="module")
def image(docker_client: Any) -> str:
    found = worker_image(docker_client)
    if not found:
        skip_or_fail("no overlord-worker image of this commit here (make images)")
    return found


@pytest.fixture(scope="module")
def s3(logs_endpoint: str) -> Any:
    client = boto3.client("s3", endpoint_url=logs_endpoint, **CREDENTIALS)
    client.create_bucket(Bucket=BUCKET)
    return client


def start(executor: Any, logs_endpoint: str, image: str) -> tuple[LocalBatchServer, Any]:
    server = LocalBatchServer(
        executor,
        region=CREDENTIALS["region_name"],
        timings=Timings(step=0.02, timeout_scale=TIMEOUT_SCALE),
        # what the compose stack passes to every job (--pass-env), here pointing at moto
        extra_environment={
            "AWS_ENDPOINT_URL": logs_endpoint,
            "AWS_REGION": CREDENTIALS["region_name"],
            "AWS_DEFAULT_REGION": CREDENTIALS["region_name"],
            "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
            "RESULTS_BUCKET": BUCKET,
        },
    ).start()
    batch = boto3.client("batch", endpoint_url=server.endpoint_url, **CREDENTIALS)
    batch.create_compute_environment(
        computeEnvironmentName="ce",
        type="MANAGED",
        computeResources={"type": "FARGATE", "maxvCpus": 2, "subnets": []},
    )
    batch.create_job_queue(
        jobQueueName="q",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "ce"}],
    )
    # the catalogue's job definitions (contracts/tasks), with the image `make images` built
    for definition in load_definitions(image).values():
        batch.register_job_definition(**definition)
    return server, batch


@pytest.fixture(scope="module")
def batches(
    docker_client: Any, image: str, logs_client: Any, logs_endpoint: str, s3: Any
) -> Iterator[dict[str, Any]]:
    # network "host": the job containers reach moto on this host's loopback, as the
    # worker processes do
    docker = DockerExecutor(logs_client, client=docker_client, kill_grace=2, network="host")
    process = ProcessExecutor(logs_client, kill_grace=2)
    servers = {}
    clients = {}
    for name, executor in (("process", process), ("docker", docker)):
        servers[name], clients[name] = start(executor, logs_endpoint, image)
    yield clients
    for server in servers.values():
        server.stop()


CASES = {
    "fail": {"task": "fail", "parameters": {"exit_code": 3, "message": "no"}, "attempts": 2},
    "timeout": {"task": "sleep", "parameters": {"seconds": 30}, "attempts": 1, "timeout": 60},
}


def submit(batch: Any, case: dict[str, Any]) -> str:
    job_id = f"job-{uuid.uuid4().hex[:24]}"
    request: dict[str, Any] = {
        "jobName": job_id,
        "jobQueue": "q",
        "jobDefinition": f"overlord-{case['task']}",
        "containerOverrides": {
            "environment": [
                {"name": "OVERLORD_JOB_ID", "value": job_id},
                {"name": "OVERLORD_TASK", "value": case["task"]},
                {"name": "OVERLORD_PARAMETERS", "value": json.dumps(case["parameters"])},
            ]
        },
        "retryStrategy": {"attempts": case["attempts"]},
    }
    if case.get("timeout"):
        request["timeout"] = {"attemptDurationSeconds": case["timeout"]}
    batch_job_id: str = batch.submit_job(**request)["jobId"]
    return batch_job_id


def log_lines(logs_client: Any, stream: str) -> list[tuple[str, str]]:
    """(level, message) of each line the worker wrote (JSON lines; others verbatim)."""
    events = logs_client.get_log_events(logGroupName="/aws/batch/job", logStreamName=stream)
    lines = []
    for event in events["events"]:
        try:
            record = json.loads(event["message"])
            lines.append((record.get("level", ""), record.get("message", "")))
        except ValueError:
            lines.append(("", event["message"]))
    return lines


def outcome(batch: Any, batch_job_id: str, logs_client: Any, s3: Any) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job: dict[str, Any] = batch.describe_jobs(jobs=[batch_job_id])["jobs"][0]
        return job if job["status"] in ("SUCCEEDED", "FAILED") else None

    job = wait_for(done, timeout=90, interval=0.1)
    attempts = []
    for attempt in job["attempts"]:
        container = attempt["container"]
        stream = container["logStreamName"]
        # log shipping ends when the container/process is gone; give it a moment
        lines = wait_for(lambda s=stream: log_lines(logs_client, s) or None, timeout=10)
        attempts.append(
            {
                "exitCode": container.get("exitCode"),
                "reason": container.get("reason"),
                "statusReason": attempt.get("statusReason"),
                "lines": lines,
            }
        )
    results = []
    prefix = result_key(job["jobName"], "-").rsplit("/", 1)[0] + "/"
    listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    for item in listing.get("Contents", []):
        body = json.loads(s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read())
        results.append({k: body.get(k) for k in ("status", "exit_code", "error", "attempt")})
    return {
        "status": job["status"],
        "statusReason": job.get("statusReason"),
        "attempts": attempts,
        "results": results,
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_docker_executor_behaves_as_the_process_executor(
    case: str, batches: dict[str, Any], logs_client: Any, s3: Any
) -> None:
    ids = {name: submit(batch, CASES[case]) for name, batch in batches.items()}
    seen = {name: outcome(batches[name], ids[name], logs_client, s3) for name in ids}
    assert seen["docker"] == seen["process"]
    assert seen["process"]["status"] == "FAILED"
    if case == "fail":
        assert [a["exitCode"] for a in seen["process"]["attempts"]] == [3, 3]
        for attempt in seen["docker"]["attempts"]:
            assert any(lvl == "ERROR" and "exited with 3" in msg for lvl, msg in attempt["lines"])
    else:
        assert "Job attempt duration exceeded timeout" in seen["process"]["statusReason"]
        assert len(seen["process"]["attempts"]) == 1
