"""Array jobs (``arrayProperties.size``) as AWS Batch runs them, through an unmodified boto3.

A parent ``<id>`` and children ``<id>:<index>``; each child is an ordinary job with
``AWS_BATCH_JOB_ARRAY_INDEX``; the parent moves SUBMITTED → PENDING (first child
RUNNABLE) → SUCCEEDED (every child succeeded) or FAILED (all ended, one failed).
"""

from __future__ import annotations

from typing import Any

import pytest

from overlord_local.localbatch.scheduler import TIMED_OUT
from tests.localbatch.test_events import load, shape_errors
from tests.localbatch.test_jobs import log_messages, logged_pid, process_alive, statuses
from tests.support.waiting import wait_for

STATUSES = ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"]
CHILD_WALK = ["PENDING", "RUNNABLE", "STARTING", "RUNNING"]
PRINT_INDEX = (
    "import os; print(os.environ['AWS_BATCH_JOB_ARRAY_INDEX'], os.environ['AWS_BATCH_JOB_ID'])"
)


def of(events: list[dict[str, Any]], job_id: str) -> list[dict[str, Any]]:
    return [e for e in events if e["detail"]["jobId"] == job_id]


def summary(**counts: int) -> dict[str, int]:
    return {status: counts.get(status, 0) for status in STATUSES}


def submit_array(batch: Any, queue: str, definition: str, size: int, **extra: Any) -> str:
    job_id: str = batch.submit_job(
        jobName="array",
        jobQueue=queue,
        jobDefinition=definition,
        arrayProperties={"size": size},
        **extra,
    )["jobId"]
    return job_id


def describe(batch: Any, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = batch.describe_jobs(jobs=[job_id])["jobs"][0]
    return job


def status_of(batch: Any, job_id: str) -> str:
    return str(describe(batch, job_id)["status"])


def most_running_at_once(events: list[dict[str, Any]], job_ids: set[str]) -> int:
    current: dict[str, str] = {}
    most = 0
    for event in events:
        detail = event["detail"]
        if detail["jobId"] in job_ids:
            current[detail["jobId"]] = detail["status"]
            most = max(most, sum(s in ("STARTING", "RUNNING") for s in current.values()))
    return most


def test_every_child_runs_with_its_index_and_the_parent_succeeds(
    batch: Any,
    make_queue: Any,
    make_definition: Any,
    wait_terminal: Any,
    logs_client: Any,
) -> None:
    queue = make_queue()
    name = make_definition(["python", "-c", PRINT_INDEX])
    parent_id = submit_array(batch, queue, name, 3)
    parent = wait_terminal(parent_id)

    assert parent["status"] == "SUCCEEDED"
    array = parent["arrayProperties"]
    assert (array["size"], array["statusSummary"]) == (3, summary(SUCCEEDED=3))
    assert parent["createdAt"] <= array["statusSummaryLastUpdatedAt"] <= parent["stoppedAt"]
    assert parent["attempts"] == []
    assert "logStreamName" not in parent["container"]
    children = batch.describe_jobs(jobs=[f"{parent_id}:{i}" for i in range(3)])["jobs"]
    for index, child in enumerate(children):
        assert child["jobId"] == f"{parent_id}:{index}"
        assert child["jobArn"] == f"{parent['jobArn']}:{index}"
        assert child["jobName"] == parent["jobName"]
        assert child["arrayProperties"] == {"index": index}
        assert child["status"] == "SUCCEEDED"
        # CloudWatch Logs refuses a colon in a stream name: the child's has a hyphen.
        stream = child["container"]["logStreamName"]
        assert stream == f"{name}/default/{parent_id}-{index}"
        expected = [f"{index} {parent_id}:{index}"]
        assert wait_for(lambda s=stream, e=expected: log_messages(logs_client, s) == e)
    assert parent["startedAt"] == min(c["startedAt"] for c in children)


def test_child_and_parent_events_have_the_describe_jobs_shape(
    batch: Any,
    make_queue: Any,
    make_definition: Any,
    wait_terminal: Any,
    events: list[dict[str, Any]],
) -> None:
    queue = make_queue()
    name = make_definition(["python", "-c", "pass"])
    size = 4
    parent_id = submit_array(batch, queue, name, size)
    wait_terminal(parent_id)
    child_ids = [f"{parent_id}:{i}" for i in range(size)]

    ours = [e for e in events if e["detail"]["jobId"] in {parent_id, *child_ids}]
    assert len(ours) == 2 + size * 5
    assert statuses(events, parent_id) == ["PENDING", "SUCCEEDED"]
    for child_id in child_ids:
        assert statuses(events, child_id) == [*CHILD_WALK, "SUCCEEDED"]
    sample = load("batch-job-state-change-runnable.json")
    for event in ours:
        assert shape_errors(sample, event) == [], event["detail"]["jobId"]
        assert event["resources"] == [event["detail"]["jobArn"]]
    for index, child_id in enumerate(child_ids):
        assert all(e["detail"]["arrayProperties"] == {"index": index} for e in of(events, child_id))
        assert of(events, child_id)[-1]["detail"] == describe(batch, child_id)
    for event in of(events, parent_id):
        array = event["detail"]["arrayProperties"]
        assert array["size"] == size
        assert set(array["statusSummary"]) == set(STATUSES)
        assert sum(array["statusSummary"].values()) == size
        assert isinstance(array["statusSummaryLastUpdatedAt"], int)
    assert of(events, parent_id)[-1]["detail"] == describe(batch, parent_id)
    assert of(events, parent_id)[-1]["detail"]["arrayProperties"]["statusSummary"] == summary(
        SUCCEEDED=size
    )

    # The parent is PENDING from its first child's RUNNABLE on, and ends after the last child.
    order = [(e["detail"]["jobId"], e["detail"]["status"]) for e in ours]
    first_runnable = next(i for i, (j, s) in enumerate(order) if s == "RUNNABLE")
    assert order.index((parent_id, "PENDING")) == first_runnable + 1
    assert order[-1] == (parent_id, "SUCCEEDED")
    pending = of(events, parent_id)[0]["detail"]["arrayProperties"]["statusSummary"]
    assert pending["RUNNABLE"] == 1 and pending["SUCCEEDED"] == 0


def test_one_failing_child_fails_the_parent_once_all_have_ended_and_retries_are_per_child(
    batch: Any,
    make_queue: Any,
    make_definition: Any,
    wait_terminal: Any,
    events: list[dict[str, Any]],
) -> None:
    queue = make_queue(max_vcpus=2)
    script = (
        "import os, sys, time; i = int(os.environ['AWS_BATCH_JOB_ARRAY_INDEX']); "
        "time.sleep(0.2 * i); sys.exit(3 if i == 1 else 0)"
    )
    name = make_definition(["python", "-c", script])
    parent_id = submit_array(batch, queue, name, 4, retryStrategy={"attempts": 2})
    parent = wait_terminal(parent_id)

    assert parent["status"] == "FAILED"
    assert parent["statusReason"] == "1 of 4 array child jobs failed"
    assert parent["arrayProperties"]["statusSummary"] == summary(SUCCEEDED=3, FAILED=1)
    children = batch.describe_jobs(jobs=[f"{parent_id}:{i}" for i in range(4)])["jobs"]
    assert [c["status"] for c in children] == ["SUCCEEDED", "FAILED", "SUCCEEDED", "SUCCEEDED"]
    assert [len(c["attempts"]) for c in children] == [1, 2, 1, 1]
    assert [a["container"]["exitCode"] for a in children[1]["attempts"]] == [3, 3]
    assert statuses(events, f"{parent_id}:1") == [
        *CHILD_WALK,
        "RUNNABLE",
        "STARTING",
        "RUNNING",
        "FAILED",
    ]
    # Child 1 failed long before child 3 ended: the parent waited for every child.
    assert statuses(events, parent_id) == ["PENDING", "FAILED"]
    last_child_end = max(c["stoppedAt"] for c in children)
    assert parent["stoppedAt"] >= last_child_end
    ours = [e["detail"]["jobId"] for e in events if e["detail"]["jobId"].startswith(parent_id)]
    assert ours[-1] == parent_id


def test_the_attempt_timeout_applies_to_each_child(
    batch: Any, make_queue: Any, make_definition: Any, wait_terminal: Any
) -> None:
    queue = make_queue(max_vcpus=1)
    name = make_definition(["python", "-c", "import time; time.sleep(30)"])
    # 60 s is one second on the fixture's scaled clock; one child at a time.
    parent_id = submit_array(batch, queue, name, 2, timeout={"attemptDurationSeconds": 60})
    parent = wait_terminal(parent_id, timeout=20)
    assert parent["status"] == "FAILED"
    for index in range(2):
        child = describe(batch, f"{parent_id}:{index}")
        assert child["statusReason"] == TIMED_OUT
        [attempt] = child["attempts"]
        assert 1000 <= attempt["stoppedAt"] - attempt["startedAt"] < 5000
    first, second = (describe(batch, f"{parent_id}:{i}")["attempts"][0] for i in range(2))
    assert second["startedAt"] >= first["stoppedAt"], "one vCPU: one child at a time"


def test_children_never_exceed_the_compute_environments_vcpus(
    batch: Any, make_sleepers: Any, wait_terminal: Any, events: list[dict[str, Any]]
) -> None:
    queue, name = make_sleepers(2)
    size = 6
    parent_id = submit_array(batch, queue, name, size)

    def some_waiting() -> list[dict[str, Any]] | None:
        listed = batch.list_jobs(arrayJobId=parent_id, jobStatus="RUNNABLE")["jobSummaryList"]
        running = batch.list_jobs(arrayJobId=parent_id, jobStatus="RUNNING")["jobSummaryList"]
        return listed if listed and running else None

    waiting = wait_for(some_waiting)
    assert all(s["jobId"].startswith(f"{parent_id}:") for s in waiting)
    described = describe(batch, parent_id)
    assert described["status"] == "PENDING"
    assert described["arrayProperties"]["statusSummary"]["RUNNABLE"] >= 1
    assert wait_terminal(parent_id)["status"] == "SUCCEEDED"
    child_ids = {f"{parent_id}:{i}" for i in range(size)}
    assert most_running_at_once(events, child_ids) == 2
    # Children start in index order, as they wait in one queue.
    starts = [e["detail"]["jobId"] for e in events if e["detail"]["status"] == "STARTING"]
    assert [s for s in starts if s in child_ids] == [f"{parent_id}:{i}" for i in range(size)]


def test_children_share_capacity_with_ordinary_jobs(
    batch: Any, make_sleepers: Any, wait_terminal: Any, events: list[dict[str, Any]]
) -> None:
    queue, name = make_sleepers(2)
    parent_id = submit_array(batch, queue, name, 3)
    single = batch.submit_job(jobName="single", jobQueue=queue, jobDefinition=name)["jobId"]
    assert wait_terminal(parent_id)["status"] == "SUCCEEDED"
    assert wait_terminal(single)["status"] == "SUCCEEDED"
    ids = {single, *(f"{parent_id}:{i}" for i in range(3))}
    assert most_running_at_once(events, ids) == 2


def test_list_jobs_lists_children_by_array_and_parents_by_queue(
    batch: Any, make_queue: Any, make_definition: Any, wait_terminal: Any
) -> None:
    queue = make_queue()
    name = make_definition(["python", "-c", "pass"])
    parent_id = submit_array(batch, queue, name, 3)
    wait_terminal(parent_id)

    children = batch.list_jobs(arrayJobId=parent_id, jobStatus="SUCCEEDED")["jobSummaryList"]
    assert [c["jobId"] for c in children] == [f"{parent_id}:{i}" for i in range(3)]
    assert [c["arrayProperties"] for c in children] == [{"index": i} for i in range(3)]
    assert all(c["container"]["exitCode"] == 0 for c in children)
    assert batch.list_jobs(arrayJobId=parent_id, jobStatus="FAILED")["jobSummaryList"] == []
    page = batch.list_jobs(arrayJobId=parent_id, jobStatus="SUCCEEDED", maxResults=2)
    rest = batch.list_jobs(arrayJobId=parent_id, jobStatus="SUCCEEDED", nextToken=page["nextToken"])
    assert [c["jobId"] for c in page["jobSummaryList"] + rest["jobSummaryList"]] == [
        c["jobId"] for c in children
    ]

    [listed] = batch.list_jobs(jobQueue=queue, jobStatus="SUCCEEDED")["jobSummaryList"]
    assert listed["jobId"] == parent_id
    assert listed["arrayProperties"]["size"] == 3
    assert listed["arrayProperties"]["statusSummary"] == summary(SUCCEEDED=3)

    for wrong in ({"jobQueue": queue, "arrayJobId": parent_id}, {}):
        with pytest.raises(batch.exceptions.ClientException, match="exactly one"):
            batch.list_jobs(**wrong)
    with pytest.raises(batch.exceptions.ClientException, match="does not exist"):
        batch.list_jobs(arrayJobId=f"{parent_id}:0")


def test_cancelling_the_parent_cancels_waiting_children_and_terminating_stops_the_rest(
    batch: Any,
    make_queue: Any,
    make_definition: Any,
    wait_terminal: Any,
    events: list[dict[str, Any]],
) -> None:
    queue = make_queue(max_vcpus=1)
    name = make_definition(["python", "-c", "import time; time.sleep(30)"])
    parent_id = submit_array(batch, queue, name, 3)
    first = f"{parent_id}:0"
    wait_for(lambda: status_of(batch, first) == "RUNNING")

    batch.cancel_job(jobId=parent_id, reason="not needed")
    for index in (1, 2):
        child = wait_terminal(f"{parent_id}:{index}")
        assert (child["status"], child["statusReason"]) == ("FAILED", "not needed")
        assert child["isCancelled"] is True and child["attempts"] == []
    # CancelJob leaves a started child running, so the parent has not ended either.
    assert status_of(batch, first) == "RUNNING"
    parent = describe(batch, parent_id)
    assert (parent["status"], parent["isCancelled"]) == ("PENDING", True)
    assert parent["arrayProperties"]["statusSummary"] == summary(RUNNING=1, FAILED=2)

    batch.terminate_job(jobId=parent_id, reason="stop now")
    parent = wait_terminal(parent_id, timeout=10)
    assert (parent["status"], parent["isTerminated"]) == ("FAILED", True)
    stopped = describe(batch, first)
    assert (stopped["status"], stopped["statusReason"]) == ("FAILED", "stop now")
    assert stopped["attempts"][0]["container"]["exitCode"] == 143
    assert statuses(events, parent_id) == ["PENDING", "FAILED"]


def test_terminating_the_parent_before_anything_runs_fails_every_child(
    batch: Any, make_queue: Any, make_definition: Any, wait_terminal: Any
) -> None:
    queue = make_queue()
    batch.update_job_queue(jobQueue=queue, state="DISABLED")
    name = make_definition(["python", "-c", "pass"])
    parent_id = submit_array(batch, queue, name, 5)
    batch.terminate_job(jobId=parent_id, reason="never mind")
    parent = wait_terminal(parent_id)
    assert parent["status"] == "FAILED"
    assert parent["arrayProperties"]["statusSummary"] == summary(FAILED=5)
    for child in batch.describe_jobs(jobs=[f"{parent_id}:{i}" for i in range(5)])["jobs"]:
        assert (child["status"], child["statusReason"]) == ("FAILED", "never mind")
        assert child["attempts"] == []


def test_10000_children_are_accepted_at_once_and_created_without_a_thread_each(
    batch: Any, make_queue: Any, make_definition: Any, wait_terminal: Any
) -> None:
    import threading

    queue = make_queue()
    batch.update_job_queue(jobQueue=queue, state="DISABLED")  # nothing runs
    name = make_definition(["python", "-c", "pass"])
    threads_before = threading.active_count()
    # How long SubmitJob takes is bench/local_array.py's figure, not an assertion here:
    # under a loaded machine it swung from 0.05 to 3 s.
    parent_id = submit_array(batch, queue, name, 10_000)
    assert threading.active_count() - threads_before < 10
    last = describe(batch, f"{parent_id}:9999")
    assert last["arrayProperties"] == {"index": 9999}
    wait_for(lambda: describe(batch, parent_id)["status"] == "PENDING", timeout=20)
    counts = describe(batch, parent_id)["arrayProperties"]["statusSummary"]
    assert sum(counts.values()) == 10_000
    batch.cancel_job(jobId=parent_id, reason="only counting")
    parent = wait_terminal(parent_id, timeout=30)
    assert parent["arrayProperties"]["statusSummary"] == summary(FAILED=10_000)
    first_page = batch.list_jobs(arrayJobId=parent_id, jobStatus="FAILED")["jobSummaryList"]
    assert [c["jobId"] for c in first_page] == [f"{parent_id}:{i}" for i in range(100)]


def test_stopping_the_server_ends_the_array_and_leaves_no_process(
    batch_server: Any,
    batch: Any,
    make_queue: Any,
    make_definition: Any,
    logs_client: Any,
) -> None:
    queue = make_queue(max_vcpus=2)
    name = make_definition(
        ["python", "-c", "import os, time; print(os.getpid(), flush=True); time.sleep(60)"]
    )
    parent_id = submit_array(batch, queue, name, 5)
    streams = [f"{name}/default/{parent_id}-{i}" for i in range(2)]

    def pids() -> list[int] | None:
        found = [pid for stream in streams if (pid := logged_pid(logs_client, stream))]
        return found if len(found) == len(streams) else None

    running = wait_for(pids)
    batch_server.stop()
    assert not any(process_alive(pid) for pid in running)
    local = batch_server.batch
    parent = local.describe_jobs({"jobs": [parent_id]})["jobs"][0]
    assert parent["status"] == "FAILED"
    assert parent["arrayProperties"]["statusSummary"] == summary(FAILED=5)
