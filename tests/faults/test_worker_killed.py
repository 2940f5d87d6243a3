"""A worker SIGKILLed mid-run (the OOM killer, a host lost): the run ends FAILED, with why."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.faults.conftest import TERMINAL, wait_for


def worker_pid(batch_job_id: str) -> int | None:
    """The process whose environment names this Batch job (the executor sets it)."""
    needle = f"AWS_BATCH_JOB_ID={batch_job_id}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if needle in (proc / "environ").read_bytes().split(b"\0"):
                return int(proc.name)
        except OSError:
            continue
    return None


def test_a_killed_worker_leaves_a_failed_run_with_a_reason(make_flow):
    flow = make_flow()
    status, _, body = flow.api.post("/jobs", {"task": "sleep", "parameters": {"seconds": 60}})
    assert status == 202, body
    job_id, batch_job_id = body["job_id"], body["batch_job_id"]
    wait_for(
        lambda: (flow.db.runs.find_one({"_id": batch_job_id}) or {}).get("status") == "RUNNING",
        30,
        "the run to be recorded RUNNING",
    )
    # The worker logs "sleeping" once it is inside the task: kill it there, not at start-up.
    wait_for(
        lambda: (
            flow.db.logs.count_documents({"batch_job_id": batch_job_id, "kind": "log"})
            or _sleeping(flow, batch_job_id)
        ),
        30,
        "the task to start",
    )
    pid = wait_for(lambda: worker_pid(batch_job_id), 10, "the worker's process")
    os.kill(pid, signal.SIGKILL)

    job = wait_for(
        lambda: (j := flow.db.jobs.find_one({"_id": job_id}))["status"] in TERMINAL and j,
        30,
        "the job to end",
    )
    run = flow.db.runs.find_one({"_id": batch_job_id})
    assert job["status"] == run["status"] == "FAILED"
    assert run["status_reason"], run
    assert run["attempts"] and run["attempts"][-1]["exit_code"] == 137, run["attempts"]
    assert job["status_reason"], job
    described = flow.batch.describe_jobs(jobs=[batch_job_id])["jobs"][0]
    assert described["status"] == "FAILED"


def _sleeping(flow, batch_job_id: str) -> bool:
    """The worker's "sleeping" line has reached CloudWatch Logs (the run is in the task)."""
    import boto3

    logs = boto3.client("logs")
    stream = f"overlord-sleep/default/{batch_job_id}"  # <job definition>/default/<job id>
    try:
        events = logs.get_log_events(
            logGroupName="/aws/batch/job", logStreamName=stream, startFromHead=True
        )["events"]
    except logs.exceptions.ResourceNotFoundException:
        return False
    return any("sleeping" in e["message"] for e in events)
