"""Adding a task is adding one file: `overlord dev` on a catalogue with one more file.

The API lists and validates it, the local Batch registered its own definition (its
vCPUs, memory and timeout show in DescribeJobs), the worker runs it; an image task is
refused with a 400 naming `make up`, and bad input writes nothing. (Terraform's side of
the same added file: tests/infra/test_catalogue_definitions.py.)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from overlord_local.devstack.running import RunningDev, http, start_dev
from tests.conftest import catalogue_copy

pytestmark = pytest.mark.e2e

BIGGER_ECHO = {
    "name": "shout",
    "description": "echo, with its own size and timeout (added by a test)",
    "parameters": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"message": {"type": "string", "minLength": 1}},
        "required": ["message"],
        "additionalProperties": False,
    },
    "runs": {"python": "overlord_worker.tasks:echo"},
    "vcpus": 0.5,
    "memory": 1024,
    "timeout_seconds": 120,
    "attempts": 2,
    "no_retry_exit_codes": [2],
}


@pytest.fixture(scope="module")
def dev(tmp_path_factory, mongodb_uri) -> Iterator[tuple[RunningDev, str]]:
    root = tmp_path_factory.mktemp("catalogue")
    tasks = catalogue_copy(root / "tasks", BIGGER_ECHO)
    db_name = f"e2e_{uuid.uuid4().hex[:8]}"
    running = start_dev(
        root / "state",
        "--reconcile-every",
        "0",
        env={"MONGODB_URI": mongodb_uri, "DB_NAME": db_name, "OVERLORD_TASKS_DIR": str(tasks)},
    )
    try:
        yield running, db_name
    finally:
        running.stop()


def call(running: RunningDev, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """A request signed with the stack's credentials (the gateway checks SigV4)."""
    return http(method, running.url + path, body, credentials=running.credentials)


def local_batch(running: RunningDev) -> Any:
    env = running.env
    return boto3.client(
        "batch",
        endpoint_url=env["AWS_ENDPOINT_URL_BATCH"],
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def test_an_added_task_file_is_listed_validated_sized_and_run(dev, mongo_client):
    running, db_name = dev
    status, listed = call(running, "GET", "/tasks")
    assert status == 200 and "shout" in {t["name"] for t in listed["tasks"]}

    status, body = call(running, "POST", "/jobs", {"task": "shout", "parameters": {}})
    assert status == 400 and body["detail"] == "parameters.message: is required"

    status, created = call(
        running, "POST", "/jobs", {"task": "shout", "parameters": {"message": "loud"}}
    )
    assert status == 202, created
    [job] = local_batch(running).describe_jobs(jobs=[created["batch_job_id"]])["jobs"]
    assert job["jobDefinition"].endswith(":job-definition/overlord-shout:1")
    resources = {r["type"]: r["value"] for r in job["container"]["resourceRequirements"]}
    assert resources == {"VCPU": "0.5", "MEMORY": "1024"}
    assert job["timeout"] == {"attemptDurationSeconds": 120}
    assert job["retryStrategy"]["attempts"] == 2

    deadline = time.monotonic() + 30
    while True:
        status, stored = call(running, "GET", f"/jobs/{created['job_id']}")
        if stored["status"] in ("SUCCEEDED", "FAILED") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert stored["status"] == "SUCCEEDED", stored
    assert stored["result"]["summary"]["output"] == {"message": "loud"}
    assert mongo_client[db_name].jobs.count_documents({}) == 1


def test_an_image_task_needs_make_up_and_writes_nothing(dev, mongo_client):
    running, db_name = dev
    before = mongo_client[db_name].jobs.count_documents({})
    status, body = call(
        running, "POST", "/jobs", {"task": "wordcount", "parameters": {"s3_uri": "s3://b/k"}}
    )
    assert status == 400
    assert body["detail"].startswith("task: 'wordcount' runs the container image")
    assert "`make up` (Docker)" in body["detail"]
    assert mongo_client[db_name].jobs.count_documents({}) == before


def test_the_local_batch_fails_an_image_job_submitted_directly(dev):
    """SubmitJob straight to the local Batch (no API): the process executor cannot run the
    image, and the attempt fails as AWS fails an image it cannot pull."""
    running, _ = dev
    batch = local_batch(running)
    job_id = batch.submit_job(
        jobName="direct", jobQueue="overlord", jobDefinition="overlord-wordcount"
    )["jobId"]
    deadline = time.monotonic() + 20
    while True:
        [job] = batch.describe_jobs(jobs=[job_id])["jobs"]
        if job["status"] in ("SUCCEEDED", "FAILED") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert job["status"] == "FAILED"
    assert "CannotPullContainerError" in str(job)
    assert "needs the docker executor (make up)" in str(job)
