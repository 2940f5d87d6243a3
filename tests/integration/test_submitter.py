"""The submitter handler with real API Gateway v2 events, MongoDB and moto's Batch."""

from __future__ import annotations

import json
import threading

import pytest

from overlord_submitter.handler import lambda_handler
from tests.conftest import JOB_QUEUE, RESULTS_BUCKET, environment
from tests.support.api import Api


@pytest.fixture
def api(app_env):
    return Api(lambda_handler)


def batch_jobs_named(aws, name):
    return aws.batch.list_jobs(
        jobQueue=JOB_QUEUE, filters=[{"name": "JOB_NAME", "values": [name]}]
    )["jobSummaryList"]


def test_post_submits_to_batch_and_records(api, db, aws):
    status, headers, body = api.post("/jobs", {"task": "echo", "parameters": {"message": "hi"}})
    assert status == 202, body
    assert body["created"] is True and body["status"] == "SUBMITTED"
    assert headers["location"] == f"/jobs/{body['job_id']}"
    described = aws.batch.describe_jobs(jobs=[body["batch_job_id"]])["jobs"][0]
    assert described["jobName"] == body["job_id"]
    env = {e["name"]: e["value"] for e in described["container"]["environment"]}
    assert env["OVERLORD_TASK"] == "echo"
    assert json.loads(env["OVERLORD_PARAMETERS"]) == {"message": "hi"}

    job = db.jobs.find_one({"_id": body["job_id"]})
    assert job["status"] == "SUBMITTED" and job["run_count"] == 1
    assert job["latest_run"]["batch_job_id"] == body["batch_job_id"]
    run = db.runs.find_one({"_id": body["batch_job_id"]})
    assert run["job_id"] == body["job_id"] and run["run"] == 1 and run["status"] == "SUBMITTED"
    kinds = {x["kind"] for x in db.logs.find({"job_id": body["job_id"]})}
    assert kinds == {"submission", "state"}


def test_same_input_reordered_is_the_same_job(api, aws):
    first = api.post("/jobs", {"task": "anything", "parameters": {"a": 1, "b": 2}})
    again = api.post("/jobs", {"parameters": {"b": 2, "a": 1.0}, "task": "anything"})
    assert first[0] == 202 and again[0] == 200
    assert again[2]["created"] is False
    assert again[2]["job_id"] == first[2]["job_id"]
    assert len(batch_jobs_named(aws, first[2]["job_id"])) == 1


def test_twenty_concurrent_identical_submissions_make_one_job(api, db, aws):
    request = {"task": "echo", "parameters": {"message": "concurrent"}}
    statuses: list[int] = []
    barrier = threading.Barrier(20)

    def submit():
        barrier.wait()
        statuses.append(api.post("/jobs", request)[0])

    threads = [threading.Thread(target=submit) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 19 + [202]
    assert db.jobs.count_documents({}) == 1
    job_id = db.jobs.find_one()["_id"]
    assert len(batch_jobs_named(aws, job_id)) == 1
    assert db.runs.count_documents({}) == 1


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ("{not json", 400, "body"),
        ({"parameters": {}}, 400, "task"),
        ({"task": "Bad Name"}, 400, "task"),
        ({"task": "echo", "parameters": [1, 2]}, 400, "parameters"),
        ({"task": "echo", "parameters": {"x": "y" * (70 * 1024)}}, 413, "parameters"),
        ("{" + " " * (300 * 1024) + "}", 413, "body"),
    ],
)
def test_bad_input_is_rejected_and_nothing_written(api, db, aws, body, status, field):
    before = len(
        aws.batch.list_jobs(jobQueue=JOB_QUEUE, jobStatus="FAILED")["jobSummaryList"]
    ) + len(aws.batch.list_jobs(jobQueue=JOB_QUEUE, jobStatus="SUBMITTED")["jobSummaryList"])
    got, _, payload = api.post("/jobs", body)
    assert got == status
    assert payload["detail"].startswith(f"{field}:")
    assert db.list_collection_names() == [] or db.jobs.count_documents({}) == 0
    after = len(
        aws.batch.list_jobs(jobQueue=JOB_QUEUE, jobStatus="FAILED")["jobSummaryList"]
    ) + len(aws.batch.list_jobs(jobQueue=JOB_QUEUE, jobStatus="SUBMITTED")["jobSummaryList"])
    assert after == before


def test_batch_refusal_marks_submit_failed_and_a_retry_submits(api, db, aws):
    request = {"task": "echo", "parameters": {"message": "refused"}}
    with environment(JOB_QUEUE="no-such-queue"):
        from overlord.runtime import wiring

        wiring.reset()
        status, _, body = api.post("/jobs", request)
    assert status == 502, body
    assert "Batch refused the job" in body["detail"]
    job = db.jobs.find_one()
    assert job["status"] == "SUBMIT_FAILED" and "no-such-queue" in job["status_reason"]

    from overlord.runtime import wiring

    wiring.reset()
    status, _, body = api.post("/jobs", request)
    assert status == 202 and body["created"] is True and body["status"] == "SUBMITTED"
    assert len(batch_jobs_named(aws, body["job_id"])) == 1


def test_batch_unreachable_is_503(api, db):
    from overlord.runtime import wiring

    with environment(AWS_ENDPOINT_URL_BATCH="http://127.0.0.1:9"):
        wiring.reset()
        status, _, body = api.post("/jobs", {"task": "echo", "parameters": {"message": "x"}})
    wiring.reset()
    assert status == 503
    assert "unreachable" in body["detail"]
    assert db.jobs.find_one()["status"] == "SUBMIT_FAILED"


def test_large_parameters_travel_through_s3(api, aws):
    params = {"message": "x" * (20 * 1024)}
    status, _, body = api.post("/jobs", {"task": "echo", "parameters": params})
    assert status == 202
    described = aws.batch.describe_jobs(jobs=[body["batch_job_id"]])["jobs"][0]
    env = {e["name"]: e["value"] for e in described["container"]["environment"]}
    assert "OVERLORD_PARAMETERS" not in env
    uri = env["OVERLORD_PARAMETERS_URI"]
    assert uri == f"s3://{RESULTS_BUCKET}/params/{body['job_id']}.json"
    stored = aws.s3.get_object(Bucket=RESULTS_BUCKET, Key=f"params/{body['job_id']}.json")
    assert json.loads(stored["Body"].read()) == params


def test_s3_unreachable_for_large_parameters_is_503_and_submit_failed(api, db, aws):
    from overlord.runtime import wiring

    request = {"task": "echo", "parameters": {"message": "s3 down " * (3 * 1024)}}
    with environment(AWS_ENDPOINT_URL_S3="http://127.0.0.1:9"):
        wiring.reset()
        status, _, body = api.post("/jobs", request)
    wiring.reset()
    assert status == 503, body
    text = body.get("detail") or body.get("message")
    assert "S3" in text and "send the request again" in text
    job = db.jobs.find_one()
    assert job["status"] == "SUBMIT_FAILED" and "S3" in job["status_reason"]
    assert batch_jobs_named(aws, job["_id"]) == []

    status, _, body = api.post("/jobs", request)
    assert status == 202 and body["created"] is True


def test_get_job_and_404(api):
    _, _, created = api.post("/jobs", {"task": "anything", "parameters": {"$odd.key": 1}})
    status, _, job = api.get(f"/jobs/{created['job_id']}")
    assert status == 200
    assert job["job_id"] == created["job_id"] and job["parameters"] == {"$odd.key": 1}
    assert job["latest_run"]["batch_job_id"] == created["batch_job_id"]
    assert job["latest_run"]["status_history"][0]["status"] == "SUBMITTED"
    assert api.get("/jobs/job-00000000000000000000000000000000")[0] == 404
    assert api.get("/jobs/not-an-id")[0] == 404


def test_rerun_needs_a_finished_job(api, db):
    _, _, created = api.post("/jobs", {"task": "echo", "parameters": {"message": "again"}})
    status, _, body = api.post(f"/jobs/{created['job_id']}/runs")
    assert status == 409 and "SUBMITTED" in body["detail"]
    db.jobs.update_one({"_id": created["job_id"]}, {"$set": {"status": "SUCCEEDED"}})
    status, _, body = api.post(f"/jobs/{created['job_id']}/runs")
    assert status == 202 and body["run"] == 2 and body["batch_job_id"] != created["batch_job_id"]
    status, _, runs = api.get(f"/jobs/{created['job_id']}/runs")
    assert [r["run"] for r in runs["runs"]] == [1, 2]


def test_health(api):
    assert api.get("/health")[:1] == (200,)


def test_health_and_errors_when_mongo_is_down(app_env):
    from overlord.runtime import wiring

    with environment(
        MONGODB_URI="mongodb://user:s3cret-pw@127.0.0.1:9/?serverSelectionTimeoutMS=300"
    ):
        wiring.reset()
        api = Api(lambda_handler)
        status, _, body = api.get("/health")
        post_status, _, post_body = api.post(
            "/jobs", {"task": "echo", "parameters": {"message": "x"}}
        )
    wiring.reset()
    assert status == 503 and post_status == 503
    assert "s3cret-pw" not in json.dumps([body, post_body])


def test_a_failed_submission_that_reached_batch_is_adopted_not_repeated(api, db, aws):
    """The answer to SubmitJob was lost: Batch has the job, we marked SUBMIT_FAILED."""
    request = {"task": "echo", "parameters": {"message": "answer lost"}}
    with environment(AWS_ENDPOINT_URL_BATCH="http://127.0.0.1:9"):
        from overlord.runtime import wiring

        wiring.reset()
        assert api.post("/jobs", request)[0] == 503
    from overlord.runtime import wiring

    wiring.reset()
    job_id = db.jobs.find_one()["_id"]
    reached = aws.batch.submit_job(
        jobName=job_id, jobQueue=JOB_QUEUE, jobDefinition="overlord-echo"
    )["jobId"]

    status, _, body = api.post("/jobs", request)
    assert status == 202 and body["batch_job_id"] == reached
    assert len(batch_jobs_named(aws, job_id)) == 1
    assert db.runs.find_one({"_id": reached})["run"] == 1


def test_a_burst_beyond_the_submit_rate_gets_503_with_retry_after(app_env, db, aws):
    from overlord.runtime import wiring

    with environment(SUBMIT_RATE_PER_SECOND="1", SUBMIT_MAX_WAIT_SECONDS="0"):
        wiring.reset()
        try:
            api = Api(lambda_handler)
            first = api.post("/jobs", {"task": "echo", "parameters": {"message": "one"}})
            second = api.post("/jobs", {"task": "echo", "parameters": {"message": "two"}})
        finally:
            wiring.reset()
    assert first[0] == 202
    status, headers, body = second
    assert status == 503, body
    assert int(headers["retry-after"]) >= 1
    job = db.jobs.find_one({"_id": {"$ne": first[2]["job_id"]}})
    assert job["status"] == "SUBMIT_FAILED"
    assert batch_jobs_named(aws, job["_id"]) == []


@pytest.mark.parametrize(("function_timeout", "answer"), [(60.0, 202), (15.5, 503)])
def test_a_submission_waits_for_its_turn_only_while_the_invocation_has_time(
    app_env, db, aws, function_timeout: float, answer: int
):
    """Waiting ~1 s for the rate is fine with time to spare; with 15.5 s left (SubmitJob
    at its slowest and the writes after it need 15) the wait would outlast the Lambda:
    503 with Retry-After at once, nothing sent to Batch."""
    from overlord.runtime import wiring

    with environment(SUBMIT_RATE_PER_SECOND="1", SUBMIT_MAX_WAIT_SECONDS="5"):
        wiring.reset()
        try:
            api = Api(lambda_handler, timeout_seconds=function_timeout)
            # Batch (moto) outlives the test: other inputs than the other case's.
            first, second = (
                api.post("/jobs", {"task": "echo", "parameters": {"message": f"{n} {answer}"}})
                for n in ("one", "two")
            )
        finally:
            wiring.reset()
    assert first[0] == 202
    status, headers, body = second
    assert status == answer, body
    if answer == 503:
        assert int(headers["retry-after"]) >= 1
        job = db.jobs.find_one({"_id": {"$ne": first[2]["job_id"]}})
        assert batch_jobs_named(aws, job["_id"]) == []
