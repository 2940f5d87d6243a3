"""The scheduled reconcile handler: repairs what events missed, against moto's Batch."""

from __future__ import annotations

from datetime import timedelta

import pytest

from overlord.domain import schema
from overlord.domain.clock import utcnow
from overlord.domain.request import validate_job_request
from overlord_recorder.handler import reconcile_handler
from overlord_submitter.handler import lambda_handler as submitter
from tests.conftest import JOB_QUEUE, environment
from tests.support.api import Api
from tests.support.waiting import wait_for


@pytest.fixture
def reconcile_now(app_env, lambda_context):
    """Reconcile with every in-flight job counted as stale."""

    def run():
        with environment(RECONCILE_AFTER_SECONDS="0"):
            from overlord.runtime import wiring

            wiring.reset()
            return reconcile_handler({}, lambda_context)

    return run


def wait_for_moto_to_finish(aws, batch_job_id):
    # moto's simple Batch (tests/conftest.py: simple_batch) ends every job FAILED at once.
    def ended():
        status = aws.batch.describe_jobs(jobs=[batch_job_id])["jobs"][0]["status"]
        return status if status in {"SUCCEEDED", "FAILED"} else None

    return wait_for(ended, 20, "moto's job to finish", interval=0.1)


def test_a_run_whose_events_were_lost_is_brought_up_to_date(app_env, db, aws, reconcile_now):
    request = {"task": "echo", "parameters": {"message": "lost"}}
    _, _, created = Api(submitter).post("/jobs", request)
    final = wait_for_moto_to_finish(aws, created["batch_job_id"])
    assert db.jobs.find_one({"_id": created["job_id"]})["status"] == "SUBMITTED"

    report = reconcile_now()
    assert created["job_id"] in report["moved"]
    job = db.jobs.find_one({"_id": created["job_id"]})
    assert job["status"] == final
    run = db.runs.find_one({"_id": created["batch_job_id"]})
    assert run["status"] == final and final in run["status_history"]
    # A second pass finds nothing left to do for it.
    assert created["job_id"] not in reconcile_now()["moved"]


def test_a_claim_without_a_batch_job_is_released(app_env, db, reconcile_now):
    request = validate_job_request({"task": "echo", "parameters": {"message": "orphan"}})
    past = utcnow() - timedelta(minutes=30)
    db.jobs.insert_one(schema.new_job(request, past))

    report = reconcile_now()
    assert report["submit_failed"] == [request.job_id]
    assert db.jobs.find_one({"_id": request.job_id})["status"] == "SUBMIT_FAILED"
    # ... so that the client's retry submits it.
    again = {"task": "echo", "parameters": {"message": "orphan"}}
    status, _, body = Api(submitter).post("/jobs", again)
    assert status == 202 and body["created"] is True


def test_a_submission_recorded_nowhere_is_adopted(app_env, db, aws, reconcile_now):
    request = validate_job_request({"task": "echo", "parameters": {"message": "adopt"}})
    db.jobs.insert_one(schema.new_job(request, utcnow() - timedelta(minutes=30)))
    batch_job_id = aws.batch.submit_job(
        jobName=request.job_id, jobQueue=JOB_QUEUE, jobDefinition="overlord-echo"
    )["jobId"]

    report = reconcile_now()
    assert report["adopted"] == [request.job_id]
    job = db.jobs.find_one({"_id": request.job_id})
    assert job["latest_run"]["batch_job_id"] == batch_job_id and job["run_count"] == 1
    assert db.runs.find_one({"_id": batch_job_id})["run"] == 1


def test_an_arrays_children_whose_events_were_lost_are_recorded(app_env, db, aws, reconcile_now):
    """moto runs no container (simple_batch): its children end FAILED at once and no event
    reaches us.
    Reconcile describes the stale parent, lists the children Batch counts beyond ours
    (ListJobs by arrayJobId) and records them through the recorder's code."""
    items = [{"message": f"lost child {i}"} for i in range(3)]
    _, _, created = Api(submitter).post("/jobs", {"task": "echo", "items": items})
    parent = created["batch_job_id"]
    for index in range(3):
        wait_for_moto_to_finish(aws, f"{parent}:{index}")

    report = reconcile_now()
    assert report["children_repaired"] == 3
    children = {c["index"]: c for c in db.runs.find({"parent": parent})}
    assert sorted(children) == [0, 1, 2]
    assert {c["status"] for c in children.values()} == {"FAILED"}
    assert all(c["_id"] == f"{parent}:{c['index']}" for c in children.values())
    assert reconcile_now()["children_repaired"] == 0
