"""The batch worker as Batch runs it: a process, its environment, S3 on moto."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import uuid

import pytest

from overlord.domain.item_offsets import item_offsets
from tests.conftest import RESULTS_BUCKET


def worker_env(task, parameters=None, *, attempt=1, extra=None, raw_parameters=None):
    job_id = "job-" + uuid.uuid4().hex
    batch_job_id = str(uuid.uuid4())
    env = {
        **os.environ,
        "OVERLORD_JOB_ID": job_id,
        "OVERLORD_TASK": task,
        "OVERLORD_PARAMETERS": raw_parameters or json.dumps(parameters or {}),
        "AWS_BATCH_JOB_ID": batch_job_id,
        "AWS_BATCH_JOB_ATTEMPT": str(attempt),
        "RESULTS_BUCKET": RESULTS_BUCKET,
        **(extra or {}),
    }
    return env, job_id, batch_job_id


def worker_process(env):
    """The worker run to its end with `env`, as Batch's container runs it."""
    return subprocess.run(
        [sys.executable, "-m", "overlord_worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def run_worker(task, parameters=None, **kwargs):
    env, job_id, batch_job_id = worker_env(task, parameters, **kwargs)
    return worker_process(env), job_id, batch_job_id


def result_of(aws, job_id, batch_job_id):
    obj = aws.s3.get_object(Bucket=RESULTS_BUCKET, Key=f"results/{job_id}/{batch_job_id}.json")
    return json.loads(obj["Body"].read())


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_echo_succeeds_logs_json_and_writes_result(moto_endpoint, aws):
    proc, job_id, batch_job_id = run_worker("echo", {"message": "hello"})
    assert proc.returncode == 0, proc.stderr
    lines = json_lines(proc.stdout)
    assert any(x["message"] == "hello" for x in lines)
    assert all(x["job_id"] == job_id for x in lines)
    result = result_of(aws, job_id, batch_job_id)
    assert result["status"] == "SUCCEEDED" and result["output"] == {"message": "hello"}


@pytest.mark.parametrize(
    ("task", "params", "code", "says"),
    [
        ("fail", {"exit_code": 7, "message": "boom"}, 7, "boom"),
        ("nope", {}, 2, "unknown task 'nope'"),
        ("echo", {"msg": "x"}, 2, "parameters.message: is required"),
        ("sleep", {"seconds": -1}, 2, "parameters.seconds: -1 is less than the minimum of 0"),
        ("sleep", {"seconds": "x"}, 2, "parameters.seconds: 'x' is not of type 'number'"),
        ("wordcount", {"s3_uri": "s3://b/k"}, 2, "runs the image overlord-wordcount:dev"),
    ],
)
def test_failures_exit_with_the_documented_codes(moto_endpoint, aws, task, params, code, says):
    proc, job_id, batch_job_id = run_worker(task, params)
    assert proc.returncode == code
    assert says in proc.stdout
    assert result_of(aws, job_id, batch_job_id)["status"] == "FAILED"


def test_bad_parameters_json_exits_2(moto_endpoint):
    proc, _, _ = run_worker("echo", raw_parameters="{nope")
    assert proc.returncode == 2 and "not valid JSON" in proc.stdout


def test_a_task_that_raises_exits_1(moto_endpoint):
    proc, _, _ = run_worker("checksum", {"s3_uri": f"s3://{RESULTS_BUCKET}/inputs/missing"})
    assert proc.returncode == 1 and "NoSuchKey" in proc.stdout


def test_fail_succeeds_from_the_chosen_attempt(moto_endpoint):
    params = {"exit_code": 3, "succeed_on_attempt": 2}
    assert run_worker("fail", params, attempt=1)[0].returncode == 3
    assert run_worker("fail", params, attempt=2)[0].returncode == 0


def test_checksum_and_parameters_from_s3(moto_endpoint, aws):
    data = os.urandom(3 * 1024 * 1024 + 17)
    aws.s3.put_object(Bucket=RESULTS_BUCKET, Key="inputs/blob", Body=data)
    params_key = f"params/{uuid.uuid4().hex}.json"
    aws.s3.put_object(
        Bucket=RESULTS_BUCKET,
        Key=params_key,
        Body=json.dumps({"s3_uri": f"s3://{RESULTS_BUCKET}/inputs/blob"}).encode(),
    )
    proc, job_id, batch_job_id = run_worker(
        "checksum",
        raw_parameters="ignored",
        extra={"OVERLORD_PARAMETERS_URI": f"s3://{RESULTS_BUCKET}/{params_key}"},
    )
    assert proc.returncode == 0, proc.stdout
    output = result_of(aws, job_id, batch_job_id)["output"]
    assert output == {
        "s3_uri": f"s3://{RESULTS_BUCKET}/inputs/blob",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }


def test_sigterm_writes_a_failed_result_and_exits_143(moto_endpoint, aws):
    """Batch's timeout and TerminateJob: SIGTERM, then SIGKILL 30 s later."""
    env, job_id, batch_job_id = worker_env("sleep", {"seconds": 60})
    proc = subprocess.Popen(
        [sys.executable, "-m", "overlord_worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:  # wait until the task runs: its "sleeping" line
            lines.append(line)
            if '"sleeping"' in line:
                break
        else:
            pytest.fail("the worker ended before sleeping:\n" + "".join(lines))
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
        rest = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 143, "".join(lines) + rest
    assert "terminated: SIGTERM" in rest
    result = result_of(aws, job_id, batch_job_id)
    assert result["status"] == "FAILED" and result["exit_code"] == 143
    assert result["error"] == "terminated: SIGTERM"


def test_an_array_child_reads_its_item_from_s3_and_writes_its_own_result(moto_endpoint, aws):
    items = [{"message": f"item {i}"} for i in range(3)]
    key = f"params/{uuid.uuid4().hex}.json"
    aws.s3.put_object(Bucket=RESULTS_BUCKET, Key=key, Body=json.dumps(items).encode())
    parent = str(uuid.uuid4())
    env, job_id, _ = worker_env("echo", extra={"AWS_BATCH_JOB_ID": f"{parent}:2"})
    del env["OVERLORD_PARAMETERS"]
    env.update(OVERLORD_ITEMS_URI=f"s3://{RESULTS_BUCKET}/{key}", AWS_BATCH_JOB_ARRAY_INDEX="2")
    proc = worker_process(env)
    assert proc.returncode == 0, proc.stderr
    assert any(x["message"] == "item 2" and x["index"] == 2 for x in json_lines(proc.stdout))
    result = result_of(aws, job_id, f"{parent}:2")
    assert result["index"] == 2 and result["status"] == "SUCCEEDED"


def test_an_array_child_given_offsets_reads_its_item_by_ranges(moto_endpoint, aws):
    items = [{"message": f"item {i} é☃𝄞"} for i in range(3)]
    text = json.dumps(items, ensure_ascii=False, separators=(",", ":"))
    name = uuid.uuid4().hex
    aws.s3.put_object(Bucket=RESULTS_BUCKET, Key=f"params/{name}.json", Body=text.encode())
    aws.s3.put_object(Bucket=RESULTS_BUCKET, Key=f"params/{name}.offsets", Body=item_offsets(text))
    parent = str(uuid.uuid4())
    env, job_id, _ = worker_env("echo", extra={"AWS_BATCH_JOB_ID": f"{parent}:2"})
    del env["OVERLORD_PARAMETERS"]
    env.update(
        OVERLORD_ITEMS_URI=f"s3://{RESULTS_BUCKET}/params/{name}.json",
        OVERLORD_ITEMS_OFFSETS_URI=f"s3://{RESULTS_BUCKET}/params/{name}.offsets",
        AWS_BATCH_JOB_ARRAY_INDEX="2",
    )
    proc = worker_process(env)
    assert proc.returncode == 0, proc.stderr
    result = result_of(aws, job_id, f"{parent}:2")
    assert result["index"] == 2 and result["output"] == items[2]

    env["AWS_BATCH_JOB_ARRAY_INDEX"] = "3"  # beyond the offsets: bad input, not retried
    env["AWS_BATCH_JOB_ID"] = f"{parent}:3"
    proc = worker_process(env)
    assert proc.returncode == 2, proc.stderr
    assert result_of(aws, job_id, f"{parent}:3")["error"].startswith(
        "OVERLORD_ITEMS_OFFSETS_URI has no entry for item 3 (0 of 16 bytes"
    )
