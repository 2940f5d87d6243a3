"""HTTP → submitter → Batch → worker → event → recorder → MongoDB, read back from all three."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.error
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from overlord_local.devstack.running import http
from tests.e2e.conftest import MAX_VCPUS, Stack, alive, cli_env, descendants
from tests.support import invariants

pytestmark = pytest.mark.e2e


def test_echo_succeeds_with_its_line_in_logs_and_result(stack: Stack):
    message = f"hello {uuid.uuid4().hex}"
    created = stack.submit({"task": "echo", "parameters": {"message": message}})
    job = stack.wait_for(created["job_id"], {"SUCCEEDED", "FAILED"}, timeout=30)
    assert job["status"] == "SUCCEEDED"
    assert job["result"]["summary"]["output"] == {"message": message}

    run = stack.db.runs.find_one({"_id": created["batch_job_id"]})
    assert run["status"] == "SUCCEEDED" and run["attempts"][0]["exit_code"] == 0
    lines = [x["message"] for x in stack.db.logs.find({"job_id": created["job_id"], "kind": "log"})]
    assert any(message in line for line in lines)
    stored = stack.db.jobs.find_one({"_id": created["job_id"]})
    assert stored["status"] == "SUCCEEDED" and stored["result"]["summary"]["status"] == "SUCCEEDED"
    status, page = stack.get(f"/jobs/{created['job_id']}/logs?kind=log")
    assert status == 200 and any(message in x["message"] for x in page["lines"])


def test_concurrent_posts_are_each_answered_with_their_own_job(stack: Stack):
    """Each request gets its own job, however many arrive at once (two invocations of the
    in-process submitter at once answered one with the other's job: the gateway serves
    one at a time, like one execution environment)."""
    messages = [f"concurrent {i} {uuid.uuid4().hex}" for i in range(12)]

    def post(message: str) -> dict:
        return stack.submit({"task": "echo", "parameters": {"message": message}})

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(post, messages))
    assert len({a["job_id"] for a in answers}) == len(messages)
    for message, answer in zip(messages, answers, strict=True):
        status, job = stack.get(f"/jobs/{answer['job_id']}")
        assert status == 200 and job["parameters"] == {"message": message}
    for answer in answers:
        stack.wait_for(answer["job_id"], {"SUCCEEDED"}, timeout=60)


def test_twelve_kib_of_parameters_succeed_through_s3(stack: Stack):
    # Inline, 12 KiB would push the container overrides past ECS's 8,192 characters and
    # the job would be accepted, then fail to start (issue 12); they go through S3.
    message = "x" * 12 * 1024
    created = stack.submit({"task": "echo", "parameters": {"message": message}})
    job = stack.wait_for(created["job_id"], {"SUCCEEDED", "FAILED"}, timeout=30)
    assert job["status"] == "SUCCEEDED", job
    assert job["result"]["summary"]["output"] == {"message": message}


def test_fail_records_exit_code_and_reason(stack: Stack):
    created = stack.submit(
        {"task": "fail", "parameters": {"exit_code": 3, "message": "no"}, "attempts": 1}
    )
    job = stack.wait_for(created["job_id"], {"SUCCEEDED", "FAILED"})
    assert job["status"] == "FAILED"
    run = stack.db.runs.find_one({"_id": created["batch_job_id"]})
    assert run["status"] == "FAILED"
    assert [a["exit_code"] for a in run["attempts"]] == [3]
    assert run["attempts"][0]["reason"]
    assert run["status_reason"]


def test_exit_code_2_fails_once_without_retry(stack: Stack):
    """2 is the worker's bad-input code, in every Python task's no_retry_exit_codes (the API
    refuses bad parameters before Batch, so `fail` produces the code here)."""
    created = stack.submit({"task": "fail", "parameters": {"exit_code": 2}, "attempts": 3})
    stack.wait_for(created["job_id"], {"SUCCEEDED", "FAILED"})
    run = stack.db.runs.find_one({"_id": created["batch_job_id"]})
    assert [a["exit_code"] for a in run["attempts"]] == [2]


def test_second_attempt_succeeds(stack: Stack):
    created = stack.submit(
        {"task": "fail", "attempts": 2, "parameters": {"exit_code": 1, "succeed_on_attempt": 2}}
    )
    job = stack.wait_for(created["job_id"], {"SUCCEEDED", "FAILED"}, timeout=40)
    assert job["status"] == "SUCCEEDED"
    run = stack.db.runs.find_one({"_id": created["batch_job_id"]})
    assert [a["exit_code"] for a in run["attempts"]] == [1, 0]
    streams = {a["log_stream"] for a in run["attempts"]}
    assert len(streams) == 2
    per_attempt = {
        x["attempt"] for x in stack.db.logs.find({"job_id": created["job_id"], "kind": "log"})
    }
    assert per_attempt == {1, 2}


def test_timeout_fails_the_job_with_aws_reason(stack: Stack):
    if not stack.local:
        pytest.skip("needs the dev stack's scaled clock")
    created = stack.submit({"task": "sleep", "parameters": {"seconds": 30}, "timeout_seconds": 60})
    job = stack.wait_for(created["job_id"], {"SUCCEEDED", "FAILED"}, timeout=30)
    assert job["status"] == "FAILED"
    run = stack.db.runs.find_one({"_id": created["batch_job_id"]})
    assert "Job attempt duration exceeded timeout" in (run["status_reason"] or "")
    assert len(run["attempts"]) == 1


def test_jobs_beyond_capacity_wait_in_runnable(stack: Stack):
    """The compute environment full, two more jobs wait in RUNNABLE until it has room.

    Filled first, then the two submitted: with all submitted at once, submissions that
    arrive one by one (the RIE submitter takes one request at a time, and `--chaos`
    holds some answers) were spread wider than the jobs ran, and under load no job
    had to wait (make e2e-chaos failed so)."""
    if not stack.local:
        pytest.skip("needs the dev stack's known capacity")
    capacity = int(MAX_VCPUS / 0.25)
    with ThreadPoolExecutor(capacity) as pool:
        filling = list(
            pool.map(
                lambda _: stack.submit({"task": "sleep", "parameters": {"seconds": 120}}),
                range(capacity),
            )
        )
    for job in filling:
        stack.wait_for(job["job_id"], {"RUNNING"})
    waiting = [stack.submit({"task": "sleep", "parameters": {"seconds": 0.5}}) for _ in range(2)]
    for job in waiting:
        stack.wait_for(job["job_id"], {"RUNNABLE"})
    for job in filling:  # room again: the two may start
        status, body = stack.post(f"/jobs/{job['job_id']}/cancel", {"reason": "room"})
        assert status == 202, body
    for job in filling + waiting:
        stack.wait_for(job["job_id"], {"SUCCEEDED", "FAILED"}, timeout=60)
    runs = [stack.db.runs.find_one({"_id": j["batch_job_id"]}) for j in filling + waiting]
    assert [r["status"] for r in runs[capacity:]] == ["SUCCEEDED", "SUCCEEDED"]
    spans = [(r["attempts"][0]["started_at"], r["attempts"][0]["stopped_at"]) for r in runs]
    most_at_once = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    assert most_at_once <= capacity
    first_room = min(stopped for _, stopped in spans[:capacity])
    assert all(r["started_at"] >= first_room for r in runs[capacity:])


def test_cli_submits_and_waits(stack: Stack):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "overlord_local.cli",
            "submit",
            "echo",
            "-p",
            "message=from the cli",
            "--wait",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env(stack),
    )
    assert proc.returncode == 0, proc.stderr
    assert '"SUCCEEDED"' in proc.stdout and "from the cli" in proc.stdout


def test_second_dev_says_it_is_running(stack: Stack):
    if not stack.local:
        pytest.skip("only for a dev stack")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "overlord_local.cli",
            "dev",
            "--port",
            "0",
            "--state-dir",
            str(stack.state_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "already running" in proc.stderr + proc.stdout


def test_stopping_leaves_no_process(stack: Stack):
    """Runs last in each mode (tests/e2e/conftest.py moves it there): later tests of
    this mode would find no stack."""
    if not stack.local:
        pytest.skip("only for a dev stack")
    assert stack.proc is not None
    # A job still running when the stack stops must be stopped too.
    # Tagged so that the invariants check (make e2e-chaos) knows it is left in flight.
    created = stack.submit(
        {"task": "sleep", "parameters": {"seconds": 60}, "tags": invariants.LEFT_RUNNING}
    )
    stack.wait_for(created["job_id"], {"RUNNING"})
    children = descendants(stack.proc.pid)
    assert children, "the running job (and emulators in --rie mode) are child processes"
    stack.proc.send_signal(signal.SIGTERM)
    stack.proc.wait(30)
    deadline = time.monotonic() + 10
    while any(alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in children if alive(p)]
    with pytest.raises(urllib.error.URLError, match="refused"):
        http("GET", stack.url + "/health")
