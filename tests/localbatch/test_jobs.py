"""Jobs walked through the state machine by real subprocesses, logs in moto's CloudWatch."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from overlord_local.localbatch.scheduler import TIMED_OUT
from tests.support.waiting import wait_for

ORDER = ["PENDING", "RUNNABLE", "STARTING", "RUNNING"]


def statuses(events: list[dict[str, Any]], job_id: str) -> list[str]:
    return [e["detail"]["status"] for e in events if e["detail"]["jobId"] == job_id]


def log_messages(logs_client: Any, stream: str) -> list[str]:
    response = logs_client.get_log_events(
        logGroupName="/aws/batch/job", logStreamName=stream, startFromHead=True
    )
    return [e["message"] for e in response["events"]]


def logged_pid(logs_client: Any, stream: str) -> int | None:
    """The process ID a job prints first, once its log stream has it."""
    try:
        lines = log_messages(logs_client, stream)
    except logs_client.exceptions.ResourceNotFoundException:
        return None
    return int(lines[0]) if lines else None


def test_hello_walks_every_state_and_logs(
    batch: Any,
    make_queue: Any,
    make_definition: Any,
    wait_terminal: Any,
    events: list[dict[str, Any]],
    logs_client: Any,
) -> None:
    queue = make_queue()
    name = make_definition(["python", "-c", "print('hi'); print('there')"])
    job_id = batch.submit_job(jobName="hello", jobQueue=queue, jobDefinition=name)["jobId"]
    # Neither the state right after SubmitJob nor the time to the end is promised: under
    # load the scheduler may have started the job already. bench/e2e_latency.py measures
    # the overhead; the events say the job walked every state.
    job = wait_terminal(job_id)
    assert job["status"] == "SUCCEEDED"
    assert statuses(events, job_id) == [*ORDER, "SUCCEEDED"]
    assert job["statusReason"] == "Essential container in task exited"
    assert job["createdAt"] <= job["startedAt"] <= job["stoppedAt"]
    [attempt] = job["attempts"]
    stream = f"{name}/default/{job_id}"
    assert attempt["container"]["logStreamName"] == stream == job["container"]["logStreamName"]
    assert attempt["container"]["exitCode"] == 0 == job["container"]["exitCode"]
    assert attempt["startedAt"] <= attempt["stoppedAt"]
    assert job["container"]["command"] == ["python", "-c", "print('hi'); print('there')"]
    assert wait_for(lambda: log_messages(logs_client, stream) == ["hi", "there"])


def test_nonzero_exit_fails_with_the_attempt(
    batch: Any, make_queue: Any, make_definition: Any, wait_terminal: Any
) -> None:
    queue = make_queue()
    name = make_definition(["python", "-c", "import sys; sys.exit(3)"])
    job_id = batch.submit_job(jobName="three", jobQueue=queue, jobDefinition=name)["jobId"]
    job = wait_terminal(job_id)
    assert job["status"] == "FAILED"
    assert [a["container"]["exitCode"] for a in job["attempts"]] == [3]
    assert job["container"]["exitCode"] == 3
    assert job["statusReason"] == "Essential container in task exited"


RETRY_SCRIPT = (
    "import os, sys; n = int(os.environ['AWS_BATCH_JOB_ATTEMPT']); "
    "print('attempt', n); sys.exit(0 if n >= 2 else 1)"
)


def test_retry_succeeds_on_the_second_attempt(
    batch: Any,
    make_queue: Any,
    make_definition: Any,
    wait_terminal: Any,
    events: list[dict[str, Any]],
    logs_client: Any,
) -> None:
    queue = make_queue()
    name = make_definition(["python", "-c", RETRY_SCRIPT])
    job_id = batch.submit_job(
        jobName="retry", jobQueue=queue, jobDefinition=name, retryStrategy={"attempts": 2}
    )["jobId"]
    job = wait_terminal(job_id)
    assert job["status"] == "SUCCEEDED"
    assert [a["container"]["exitCode"] for a in job["attempts"]] == [1, 0]
    assert statuses(events, job_id) == [*ORDER, "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"]
    streams = [a["container"]["logStreamName"] for a in job["attempts"]]
    assert streams == [f"{name}/default/{job_id}", f"{name}/default/{job_id}-2"]
    assert wait_for(lambda: log_messages(logs_client, streams[1]) == ["attempt 2"])


def test_evaluate_on_exit_can_stop_retries(
    batch: Any, make_queue: Any, make_definition: Any, wait_terminal: Any
) -> None:
    queue = make_queue()
    name = make_definition(
        ["python", "-c", "import sys; sys.exit(2)"],
        retryStrategy={"attempts": 3, "evaluateOnExit": [{"onExitCode": "2", "action": "EXIT"}]},
    )
    job = wait_terminal(batch.submit_job(jobName="x", jobQueue=queue, jobDefinition=name)["jobId"])
    assert job["status"] == "FAILED"
    assert len(job["attempts"]) == 1
    assert job["retryStrategy"]["attempts"] == 3


def test_timeout_fails_without_retry(
    batch: Any, make_queue: Any, make_definition: Any, wait_terminal: Any
) -> None:
    queue = make_queue()
    name = make_definition(["python", "-c", "import time; time.sleep(30)"])
    job_id = batch.submit_job(
        jobName="slow",
        jobQueue=queue,
        jobDefinition=name,
        timeout={"attemptDurationSeconds": 60},  # one second on the fixture's scaled clock
        retryStrategy={"attempts": 3},
    )["jobId"]
    job = wait_terminal(job_id, timeout=10)
    assert job["status"] == "FAILED"
    assert job["statusReason"] == TIMED_OUT == "Job attempt duration exceeded timeout"
    [attempt] = job["attempts"]
    assert attempt["statusReason"] == TIMED_OUT
    assert attempt["container"]["exitCode"] == 143  # SIGTERM, as a container runtime reports it
    assert 1000 <= attempt["stoppedAt"] - attempt["startedAt"] < 5000
    assert job["timeout"] == {"attemptDurationSeconds": 60}


def test_capacity_holds_extra_jobs_in_runnable(
    batch: Any, make_sleepers: Any, wait_terminal: Any, events: list[dict[str, Any]]
) -> None:
    queue, name = make_sleepers(1)
    ids = [
        batch.submit_job(jobName=f"c{i}", jobQueue=queue, jobDefinition=name)["jobId"]
        for i in range(3)
    ]
    for job_id in ids:
        assert wait_terminal(job_id)["status"] == "SUCCEEDED"

    current: dict[str, str] = {}
    most_active = 0
    waited_in_runnable = 0
    for event in events:
        detail = event["detail"]
        current[detail["jobId"]] = detail["status"]
        active = sum(s in ("STARTING", "RUNNING") for s in current.values())
        most_active = max(most_active, active)
        if active:
            waited_in_runnable = max(
                waited_in_runnable, sum(s == "RUNNABLE" for s in current.values())
            )
    assert most_active == 1
    assert waited_in_runnable == 2


def test_overrides_and_environment(
    batch: Any,
    make_queue: Any,
    make_definition: Any,
    wait_terminal: Any,
    logs_client: Any,
) -> None:
    queue = make_queue()
    name = make_definition(
        ["python", "-c", "print('definition')"],
        containerProperties={
            "environment": [{"name": "A", "value": "def"}, {"name": "B", "value": "def"}]
        },
    )
    script = (
        "import os; print(*[os.environ.get(k, '-') for k in ('A', 'B', 'AWS_BATCH_JOB_ID', "
        "'AWS_BATCH_JQ_NAME', 'AWS_BATCH_CE_NAME', 'AWS_BATCH_JOB_ATTEMPT', 'RESULTS_BUCKET')])"
    )
    job_id = batch.submit_job(
        jobName="env",
        jobQueue=queue,
        jobDefinition=name,
        containerOverrides={
            "command": ["python", "-c", script],
            "environment": [{"name": "B", "value": "override"}],
        },
    )["jobId"]
    job = wait_terminal(job_id)
    assert job["status"] == "SUCCEEDED"
    assert {e["name"]: e["value"] for e in job["container"]["environment"]} == {
        "A": "def",
        "B": "override",
    }
    stream = job["container"]["logStreamName"]
    expected = f"def override {job_id} {queue} {queue}-ce 1 results-bucket"
    assert wait_for(lambda: log_messages(logs_client, stream) == [expected])


def test_cancel_only_stops_jobs_that_have_not_started(
    batch: Any,
    make_queue: Any,
    make_definition: Any,
    wait_terminal: Any,
    events: list[dict[str, Any]],
) -> None:
    queue = make_queue(max_vcpus=1)
    name = make_definition(["python", "-c", "import time; time.sleep(30)"])
    running = batch.submit_job(jobName="r", jobQueue=queue, jobDefinition=name)["jobId"]
    waiting = batch.submit_job(jobName="w", jobQueue=queue, jobDefinition=name)["jobId"]
    wait_for(lambda: batch.describe_jobs(jobs=[running])["jobs"][0]["status"] == "RUNNING")
    wait_for(lambda: batch.describe_jobs(jobs=[waiting])["jobs"][0]["status"] == "RUNNABLE")

    batch.cancel_job(jobId=waiting, reason="not needed")
    batch.cancel_job(jobId=running, reason="too late")
    cancelled = wait_terminal(waiting)
    assert (cancelled["status"], cancelled["statusReason"]) == ("FAILED", "not needed")
    assert cancelled["isCancelled"] is True
    assert cancelled["attempts"] == []
    assert statuses(events, waiting) == ["PENDING", "RUNNABLE", "FAILED"]
    assert batch.describe_jobs(jobs=[running])["jobs"][0]["status"] == "RUNNING"

    batch.terminate_job(jobId=running, reason="stop now")
    terminated = wait_terminal(running, timeout=10)
    assert (terminated["status"], terminated["statusReason"]) == ("FAILED", "stop now")
    assert terminated["isTerminated"] is True
    assert terminated["attempts"][0]["container"]["exitCode"] == 143


def test_terminate_kills_the_whole_process_group(
    batch: Any,
    make_queue: Any,
    make_definition: Any,
    wait_terminal: Any,
    logs_client: Any,
) -> None:
    queue = make_queue()
    script = (
        "import subprocess, sys; "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        "print(child.pid, flush=True); child.wait()"
    )
    name = make_definition(["python", "-c", script])
    job_id = batch.submit_job(jobName="tree", jobQueue=queue, jobDefinition=name)["jobId"]
    stream = f"{name}/default/{job_id}"
    pid = wait_for(lambda: logged_pid(logs_client, stream))
    batch.terminate_job(jobId=job_id, reason="bye")
    assert wait_terminal(job_id)["status"] == "FAILED"
    assert wait_for(lambda: not process_alive(pid), timeout=5)


def process_alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        state = next(line for line in status.read_text().splitlines() if line.startswith("State"))
    except (FileNotFoundError, StopIteration):
        return False
    return "Z" not in state.split()[1]


def test_stopping_the_server_leaves_no_process(
    batch_server: Any,
    batch: Any,
    make_queue: Any,
    make_definition: Any,
    logs_client: Any,
) -> None:
    queue = make_queue()
    name = make_definition(
        ["python", "-c", "import os, time; print(os.getpid(), flush=True); time.sleep(60)"]
    )
    job_id = batch.submit_job(jobName="orphan", jobQueue=queue, jobDefinition=name)["jobId"]
    stream = f"{name}/default/{job_id}"
    job_pid = wait_for(lambda: logged_pid(logs_client, stream))
    assert job_pid != os.getpid()
    batch_server.stop()
    assert not process_alive(job_pid)


def test_a_command_that_cannot_be_found_fails_to_start(
    batch: Any, make_queue: Any, make_definition: Any, wait_terminal: Any
) -> None:
    queue = make_queue()
    for command in (["no-such-command-here"], ["./no/such/script.sh"]):
        name = make_definition(command)
        job = wait_terminal(
            batch.submit_job(jobName="x", jobQueue=queue, jobDefinition=name)["jobId"]
        )
        assert job["status"] == "FAILED"
        [attempt] = job["attempts"]
        assert attempt["statusReason"] == "Task failed to start"
        assert attempt["container"]["reason"].startswith("CannotStartContainerError")
        assert command[0] in attempt["container"]["reason"]
        assert "exitCode" not in attempt["container"]


def test_logs_go_to_the_definitions_group_created_on_first_use(
    batch: Any, make_queue: Any, make_definition: Any, wait_terminal: Any, logs_client: Any
) -> None:
    queue = make_queue()
    group = f"/test/{uuid.uuid4().hex}"
    name = make_definition(
        ["python", "-c", "import os; print(os.environ['AWS_BATCH_JOB_ID'])"],
        containerProperties={
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {"awslogs-group": group, "awslogs-stream-prefix": "p"},
            }
        },
    )

    def lines(stream: str) -> list[str]:
        try:
            events = logs_client.get_log_events(logGroupName=group, logStreamName=stream)
        except logs_client.exceptions.ResourceNotFoundException:
            return []
        return [e["message"] for e in events["events"]]

    for _ in range(2):  # the first makes the group, the second only its stream
        job_id = batch.submit_job(jobName="g", jobQueue=queue, jobDefinition=name)["jobId"]
        assert wait_terminal(job_id)["status"] == "SUCCEEDED"
        stream = f"p/default/{job_id}"
        assert wait_for(lambda s=stream, j=job_id: lines(s) == [j])
