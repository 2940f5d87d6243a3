"""The cancel service over fakes of our ports: which Batch call, and what is recorded."""

from __future__ import annotations

import pytest

from overlord.domain.errors import BatchCallFailed, JobNotFound, NoActiveRun
from overlord.ports.batch_events import BatchJobDetail
from overlord.services.cancel import cancel_job
from tests.unit.fakes import FakeBatch, FakeObjects, FakeStore
from tests.unit.test_services import post


def detail(sub, status: str) -> BatchJobDetail:
    return BatchJobDetail.model_validate(
        {"jobId": sub.batch_job_id, "jobName": sub.job_id, "status": status}
    )


@pytest.fixture
def posted():
    store, batch = FakeStore(), FakeBatch()
    return store, batch, post(store, batch, FakeObjects())


@pytest.mark.parametrize(
    ("in_batch", "action"),
    [
        ("SUBMITTED", "CancelJob"),
        ("RUNNABLE", "CancelJob"),
        ("STARTING", "TerminateJob"),
        ("RUNNING", "TerminateJob"),
    ],
)
def test_cancel_before_start_terminate_after(posted, in_batch, action):
    store, batch, sub = posted
    batch.details[sub.batch_job_id] = detail(sub, in_batch)
    done = cancel_job(store, batch, sub.job_id, "enough", "arn:aws:iam::1:user/a")
    assert done.action == action
    assert batch.stopped == [(action, sub.batch_job_id, "enough")]
    cancel = store.runs[sub.batch_job_id]["cancel"]
    assert (cancel["by"], cancel["reason"], cancel["action"]) == (
        "arn:aws:iam::1:user/a",
        "enough",
        action,
    )


def test_a_run_that_started_meanwhile_is_terminated(posted):
    """CancelJob does nothing to a job that reached STARTING (AWS answers 200 anyway)."""
    store, batch, sub = posted
    batch.details[sub.batch_job_id] = detail(sub, "RUNNABLE")

    def starts() -> None:
        if batch.stopped:
            batch.details[sub.batch_job_id] = detail(sub, "STARTING")

    batch.before_describe = starts
    done = cancel_job(store, batch, sub.job_id, None, "key")
    assert [a for a, _, _ in batch.stopped] == ["CancelJob", "TerminateJob"]
    assert done.action == "TerminateJob" and done.reason == "cancelled by key"


def test_nothing_to_cancel(posted):
    store, batch, sub = posted
    batch.details[sub.batch_job_id] = detail(sub, "SUCCEEDED")
    with pytest.raises(NoActiveRun, match="already ended"):
        cancel_job(store, batch, sub.job_id, None, None)
    store.jobs[sub.job_id]["status"] = "FAILED"
    with pytest.raises(NoActiveRun, match="no run is active"):
        cancel_job(store, batch, sub.job_id, None, None)
    with pytest.raises(JobNotFound):
        cancel_job(store, batch, "job-" + "0" * 32, None, None)
    assert batch.stopped == [] and "cancel" not in store.runs[sub.batch_job_id]


def test_a_cancel_batch_refuses_is_not_left_on_the_run(posted):
    store, batch, sub = posted
    batch.details[sub.batch_job_id] = detail(sub, "RUNNABLE")
    batch.fail_next = BatchCallFailed("Batch cancel_job: ServerException")
    with pytest.raises(BatchCallFailed):
        cancel_job(store, batch, sub.job_id, None, None)
    assert "cancel" not in store.runs[sub.batch_job_id]


def test_the_cancel_is_recorded_before_batch_is_asked(posted):
    """Batch's events follow the call at once; the recorder must find the cancel there."""
    store, batch, sub = posted
    batch.details[sub.batch_job_id] = detail(sub, "RUNNABLE")
    seen = []
    original = batch.cancel
    batch.cancel = lambda i, r: (seen.append("cancel" in store.runs[i]), original(i, r))  # type: ignore[method-assign]
    cancel_job(store, batch, sub.job_id, None, None)
    assert seen == [True]


def test_an_array_job_is_terminated_so_that_running_children_stop_too():
    from tests.unit.test_arrays import post_array

    store, batch = FakeStore(), FakeBatch()
    sub = post_array(store, batch, FakeObjects())
    batch.details[sub.batch_job_id] = detail(sub, "PENDING")  # a parent never runs
    done = cancel_job(store, batch, sub.job_id, "enough", None)
    assert done.action == "TerminateJob"
    assert batch.stopped == [("TerminateJob", sub.batch_job_id, "enough")]
