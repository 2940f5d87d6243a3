"""The whole API and the CLI over HTTP against `overlord dev`: signed requests only."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import botocore.auth
import pytest

from overlord_local.client import ApiClient, static_credentials
from tests.e2e.conftest import Stack, cli_env
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e
FORBIDDEN = {"message": "Forbidden"}


def overlord(stack: Stack, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "overlord_local.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(stack),
    )


def local_only(stack: Stack) -> None:
    if not stack.local:
        pytest.skip("needs the dev stack (its credentials and its Batch)")


def batch(stack: Stack):
    return boto3.client(
        "batch",
        endpoint_url=stack.env["AWS_ENDPOINT_URL_BATCH"],
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def batch_job_count(stack: Stack) -> int:
    client = batch(stack)
    return sum(
        len(client.list_jobs(jobQueue=stack.env["JOB_QUEUE"], jobStatus=s)["jobSummaryList"])
        for s in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
    )


def test_unsigned_wrong_and_expired_requests_are_403_and_write_nothing(stack: Stack, monkeypatch):
    local_only(stack)
    body = {"task": "echo", "parameters": {"message": uuid.uuid4().hex}}
    jobs, runs, in_batch = (
        stack.db.jobs.count_documents({}),
        stack.db.runs.count_documents({}),
        batch_job_count(stack),
    )
    unsigned = ApiClient(stack.url)
    wrong = ApiClient(stack.url, static_credentials("overlord-local", "not-the-secret"))
    for api in (unsigned, wrong):
        answer = api.post("/jobs", body)
        assert (answer.status, answer.body) == (403, FORBIDDEN)
        assert api.get("/jobs").status == 403
    then = datetime.now(UTC) - timedelta(minutes=10)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: then.replace(tzinfo=None))
    answer = stack.client.post("/jobs", body)
    assert (answer.status, answer.body) == (403, FORBIDDEN)
    monkeypatch.undo()
    assert stack.db.jobs.count_documents({}) == jobs
    assert stack.db.runs.count_documents({}) == runs
    assert batch_job_count(stack) == in_batch
    assert unsigned.get("/health").status == 200
    assert stack.client.post("/jobs", body).status == 202


def test_list_pages_with_jobs_arriving(stack: Stack):
    if stack.mode == "rie":
        pytest.skip("the handler is the same; once is enough")
    batch_tag = uuid.uuid4().hex[:12]
    tags = {"batch": batch_tag}
    first = [
        stack.submit({"task": "echo", "parameters": {"message": f"{i}"}, "tags": tags})["job_id"]
        for i in range(5)
    ]
    seen: list[str] = []
    status, page = stack.get("/jobs", {"tag": f"batch:{batch_tag}", "limit": 2})
    assert status == 200, page
    seen += [j["job_id"] for j in page["jobs"]]
    while page["next"]:
        stack.submit({"task": "echo", "parameters": {"message": "late"}, "tags": tags})
        status, page = stack.get(
            "/jobs", {"tag": f"batch:{batch_tag}", "limit": 2, "cursor": page["next"]}
        )
        seen += [j["job_id"] for j in page["jobs"]]
    assert seen == list(reversed(first))


def _wait_run(stack: Stack, batch_job_id: str, statuses: set[str], timeout: float = 30) -> str:
    client = batch(stack)
    deadline = time.monotonic() + timeout
    while True:
        found = client.describe_jobs(jobs=[batch_job_id])["jobs"][0]["status"]
        if found in statuses or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_cancel_before_start_and_while_running(stack: Stack):
    local_only(stack)
    # Four sleepers fill the stack's capacity (1 vCPU, 0.25 each): a fifth waits.
    jobs = [stack.submit({"task": "sleep", "parameters": {"seconds": 30}}) for _ in range(5)]
    try:
        _cancel_each(stack, jobs)
    finally:  # a failure must not leave the sleepers holding the stack's capacity
        client = batch(stack)
        for job in jobs:
            client.terminate_job(jobId=job["batch_job_id"], reason="test cleanup")


def _cancel_each(stack: Stack, jobs: list[dict]) -> None:
    client, deadline = batch(stack), time.monotonic() + 60
    while True:
        ids = [j["batch_job_id"] for j in jobs]
        states = {d["jobId"]: d["status"] for d in client.describe_jobs(jobs=ids)["jobs"]}
        running = [j for j in jobs if states[j["batch_job_id"]] == "RUNNING"]
        if len(running) == 4 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(running) == 4, states
    (waiting,) = [j for j in jobs if j not in running]
    assert states[waiting["batch_job_id"]] == "RUNNABLE"

    status, body = stack.post(f"/jobs/{waiting['job_id']}/cancel", {"reason": "not needed"})
    assert status == 202 and body["action"] == "CancelJob", body
    job = stack.wait_for(waiting["job_id"], {"SUCCEEDED", "FAILED"})
    assert job["status"] == "FAILED"
    run = stack.db.runs.find_one({"_id": waiting["batch_job_id"]})
    assert run["status"] == "FAILED" and run["attempts"] == []
    assert run["cancel"]["action"] == "CancelJob" and run["cancel"]["reason"] == "not needed"
    assert run["cancel"]["by"] == "overlord-local"
    assert "not needed" in run["status_reason"]

    for target in running:
        status, body = stack.post(f"/jobs/{target['job_id']}/cancel")
        assert status == 202 and body["action"] == "TerminateJob", body
    for target in running:
        job = stack.wait_for(target["job_id"], {"SUCCEEDED", "FAILED"})
        assert job["status"] == "FAILED"
        assert _wait_run(stack, target["batch_job_id"], {"FAILED"}) == "FAILED"
        run = stack.db.runs.find_one({"_id": target["batch_job_id"]})
        assert run["cancel"]["action"] == "TerminateJob"
        assert len(run["attempts"]) == 1 and run["attempts"][0]["exit_code"] != 0
    status, body = stack.post(f"/jobs/{running[0]['job_id']}/cancel")
    assert status == 409 and body["status"] == 409


def test_logs_in_reading_order_over_http(stack: Stack):
    created = stack.submit({"task": "echo", "parameters": {"message": "ordered"}})
    stack.wait_for(created["job_id"], {"SUCCEEDED"})

    def every_state_line() -> dict | None:
        # The terminal event may be recorded before earlier ones still being delivered
        # (EventBridge promises no order): wait for all of them, then check the order.
        status, page = stack.get(f"/jobs/{created['job_id']}/logs")
        assert status == 200, page
        return page if sum(x["kind"] == "state" for x in page["lines"]) >= 6 else None

    page = wait_for(every_state_line, timeout=30, what="the run's six state lines")
    kinds = [x["kind"] for x in page["lines"]]
    states = [x["status"] for x in page["lines"] if x["kind"] == "state"]
    assert kinds[0] == "submission" and kinds[-1] == "result"
    assert states == ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"]
    assert kinds.index("log") > kinds.index("state") and kinds[-2] == "state"


def test_openapi_and_docs(stack: Stack):
    status, doc = stack.get("/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.1")
    assert {"/jobs", "/jobs/{job_id}/cancel", "/jobs/{job_id}/logs"} <= set(doc["paths"])
    answer = stack.client.get("/docs")
    assert answer.status == 200 and "swagger-ui" in str(answer.body)


# Some sixteen CLI processes, each starting Python, typer and boto3: over 300 s once on a
# machine at load 30.
@pytest.mark.timeout(900)
def test_cli_commands(stack: Stack):
    message = f"cli {uuid.uuid4().hex}"
    done = overlord(
        stack, "submit", "echo", "-p", f"message={message}", "--tag", "via=cli", "--wait"
    )
    assert done.returncode == 0, done.stderr
    for status in ("SUBMITTED", "RUNNING", "SUCCEEDED"):
        assert status in done.stdout
    assert message in done.stdout
    job_id = done.stdout.split()[0]

    failed = overlord(
        stack, "submit", "fail", "-p", "exit_code=4", "-p", f"message={message}", "--wait"
    )
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "FAILED" in failed.stdout
    failed_id = failed.stdout.split()[0]
    assert stack.db.runs.find_one({"job_id": failed_id})["attempts"][0]["exit_code"] == 4

    listed = overlord(stack, "list", "--status", "SUCCEEDED", "--tag", "via=cli", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert job_id in [j["job_id"] for j in json.loads(listed.stdout)["jobs"]]
    table = overlord(stack, "list", "--status", "SUCCEEDED", "--limit", "100")
    assert job_id in table.stdout

    shown = overlord(stack, "status", job_id, "-o", "json")
    assert json.loads(shown.stdout)["status"] == "SUCCEEDED"
    assert overlord(stack, "runs", job_id).returncode == 0
    lines = overlord(stack, "logs", job_id, "--run", "1")
    assert message in lines.stdout

    again = overlord(stack, "rerun", job_id, "--wait")
    assert again.returncode == 0, again.stderr
    assert len(json.loads(overlord(stack, "runs", job_id, "-o", "json").stdout)["runs"]) == 2

    sleeper = overlord(stack, "submit", "sleep", "-p", "seconds=30", "-o", "json")
    sleeper_id = json.loads(sleeper.stdout)["job_id"]
    cancelled = overlord(stack, "cancel", sleeper_id, "--reason", "enough", "--wait")
    assert cancelled.returncode == 1 and "CANCELLED" in cancelled.stdout, cancelled.stdout

    missing = overlord(stack, "status", "job-00000000000000000000000000000000")
    assert missing.returncode == 2 and "404" in missing.stderr
    usage = overlord(stack, "submit", "echo", "-p", "no-equals-sign")
    assert usage.returncode == 2
    env_down = {**cli_env(stack), "OVERLORD_API_URL": "http://127.0.0.1:9"}
    down = subprocess.run(
        [sys.executable, "-m", "overlord_local.cli", "list"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env_down,
    )
    assert down.returncode == 2 and "cannot reach" in down.stderr


def test_unknown_routes_are_a_problem_json_404(stack: Stack):
    """The submitter answers them (the API's `$default` route), in the errors' one shape."""
    for method, path in (("GET", "/nope"), ("DELETE", "/jobs")):
        answer = stack.client.request(method, path)
        assert answer.status == 404, answer.body
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.body["detail"] == f"path: no route {path}", answer.body
