"""The example image task (examples/tasks/wordcount, Go) as its container runs it: built
here with Go (the image itself is built by `make images`), run as a process against moto
with the environment Batch gives it, writing its result where the recorder reads it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import RESULTS_BUCKET

SOURCE = Path(__file__).resolve().parents[2] / "examples" / "tasks" / "wordcount"


@pytest.fixture(scope="module")
def wordcount(tmp_path_factory) -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.skip("no Go toolchain")
    binary = tmp_path_factory.mktemp("wordcount") / "wordcount"
    build = subprocess.run(
        [go, "build", "-o", str(binary), "."],
        cwd=SOURCE,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CGO_ENABLED": "0"},
    )
    if build.returncode != 0 and "dial tcp" in build.stderr:
        pytest.skip(f"Go modules unreachable: {build.stderr[-200:]}")
    assert build.returncode == 0, build.stderr
    return binary


def run(binary: Path, parameters: dict | str, **extra: str):
    job_id, batch_job_id = "job-" + uuid.uuid4().hex, str(uuid.uuid4())
    text = parameters if isinstance(parameters, str) else json.dumps(parameters)
    env = {
        **os.environ,
        "OVERLORD_JOB_ID": job_id,
        "OVERLORD_TASK": "wordcount",
        "OVERLORD_PARAMETERS": text,
        "AWS_BATCH_JOB_ID": batch_job_id,
        "AWS_BATCH_JOB_ATTEMPT": "1",
        "RESULTS_BUCKET": RESULTS_BUCKET,
        **extra,
    }
    proc = subprocess.run([str(binary)], env=env, capture_output=True, text=True, timeout=60)
    return proc, f"results/{job_id}/{batch_job_id}.json"


def result(aws, key: str) -> dict:
    return json.loads(aws.s3.get_object(Bucket=RESULTS_BUCKET, Key=key)["Body"].read())


def test_counts_an_object_and_writes_the_result(moto_endpoint, aws, wordcount):
    aws.s3.put_object(Bucket=RESULTS_BUCKET, Key="inputs/poem", Body=b"one two\nthree  four five\n")
    uri = f"s3://{RESULTS_BUCKET}/inputs/poem"
    proc, key = run(wordcount, {"s3_uri": uri})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    written = result(aws, key)
    assert written["status"] == "SUCCEEDED" and written["exit_code"] == 0
    assert written["output"] == {"s3_uri": uri, "lines": 2, "words": 5, "bytes": 25}


def test_parameters_through_s3_too(moto_endpoint, aws, wordcount):
    aws.s3.put_object(Bucket=RESULTS_BUCKET, Key="inputs/one", Body=b"x")
    aws.s3.put_object(
        Bucket=RESULTS_BUCKET,
        Key="params/wc.json",
        Body=json.dumps({"s3_uri": f"s3://{RESULTS_BUCKET}/inputs/one"}).encode(),
    )
    proc, key = run(wordcount, "", OVERLORD_PARAMETERS_URI=f"s3://{RESULTS_BUCKET}/params/wc.json")
    assert proc.returncode == 0, proc.stdout
    assert result(aws, key)["output"]["bytes"] == 1


@pytest.mark.parametrize(
    ("parameters", "code", "says"),
    [
        ({"s3_uri": "not-s3"}, 2, "parameters.s3_uri: not an s3://bucket/key URI"),
        ({}, 2, "parameters.s3_uri: is required"),
        ("[1]", 2, "must be a JSON object"),
        ({"s3_uri": f"s3://{RESULTS_BUCKET}/missing"}, 1, "NoSuchKey"),
    ],
)
def test_failures_use_the_workers_exit_codes(moto_endpoint, aws, wordcount, parameters, code, says):
    proc, key = run(wordcount, parameters)
    assert proc.returncode == code, proc.stdout
    written = result(aws, key)
    assert written["status"] == "FAILED" and says in written["error"]
