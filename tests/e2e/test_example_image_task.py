"""The example image task (examples/tasks/wordcount, Go) through the whole flow.

Against the compose stack (`make up`; OVERLORD_E2E_API_URL, as .ci/run's e2e stage
sets it) the local Batch's Docker executor runs the image `make images` built: an
object put into the stack's S3 is counted, the job SUCCEEDED with the counts as its
result and the program's log line among its logs. Under `overlord dev` (no Docker)
the same request is refused with a 400 that says it needs `make up`.

Named to run before test_flow.py, whose last test stops each mode's `overlord dev`.

S3 is reached as botocore finds it: the stack's own endpoint locally (dev.env), and for
an external stack AWS_ENDPOINT_URL_S3 (LocalStack's published port; .ci/run sets it)
or AWS itself; RESULTS_BUCKET names the bucket (compose.yaml's default otherwise).
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import boto3
import pytest

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

# 3 lines, 9 words (spaces, a tab and newlines between them); 48 bytes of UTF-8, as
# "é" and "ö" take two bytes each
TEXT = "the quick brown fox\n  jumps over\tthé\nlazy dög\n"
COUNTS = {"lines": 3, "words": 9, "bytes": 48}


def stack_s3(stack: Stack) -> tuple[Any, str]:
    """An S3 client of the stack's own S3, and the stack's results bucket."""
    if stack.local:
        env = stack.env
        client = boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            region_name=env.get("AWS_REGION", "us-east-1"),
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )
        return client, env["RESULTS_BUCKET"]
    region = os.environ.get("AWS_REGION", "us-east-1")
    return boto3.client("s3", region_name=region), os.environ.get(
        "RESULTS_BUCKET", "overlord-results"
    )


def test_wordcount_counts_an_s3_object_in_its_own_image(stack: Stack):
    assert len(TEXT.encode()) == COUNTS["bytes"]
    s3, bucket = stack_s3(stack)
    key = f"inputs/wordcount-{uuid.uuid4().hex}.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=TEXT.encode())
    uri = f"s3://{bucket}/{key}"
    jobs_before = stack.db.jobs.count_documents({})

    status, body = stack.post(
        "/jobs", {"task": "wordcount", "parameters": {"s3_uri": uri}, "key": uuid.uuid4().hex}
    )

    if stack.local:
        # the process executor cannot run an image: refused before anything is written
        assert status == 400, body
        assert body["detail"].startswith("task: 'wordcount' runs the container image")
        assert "`make up` (Docker)" in body["detail"]
        assert stack.db.jobs.count_documents({}) == jobs_before
        return

    assert status == 202, body
    # the first run of an image may wait for its container to be created
    job = stack.wait_for(body["job_id"], {"SUCCEEDED", "FAILED"}, timeout=120)
    assert job["status"] == "SUCCEEDED", job
    result = job["result"]["summary"]
    assert result["status"] == "SUCCEEDED" and result["task"] == "wordcount"
    assert result["output"] == {"s3_uri": uri, **COUNTS}

    run = stack.db.runs.find_one({"_id": body["batch_job_id"]})
    assert run["status"] == "SUCCEEDED" and [a["exit_code"] for a in run["attempts"]] == [0]
    status, page = stack.get(f"/jobs/{body['job_id']}/logs", {"kind": "log"})
    assert status == 200, page
    said = "3 lines, 9 words, 48 bytes"
    assert any(said in line["message"] for line in page["lines"]), page
