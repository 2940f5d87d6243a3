"""GET /jobs, the log order, cancel, problem+json and the caller, through the submitter
handler with API Gateway v2 events, real MongoDB and moto's Batch."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from overlord.domain import schema
from overlord_submitter.handler import lambda_handler
from tests.support.api import Api

ARN = "arn:aws:iam::123456789012:user/alice"
IAM = {"accessKey": "AKIAEXAMPLE", "accountId": "123456789012", "userArn": ARN}


@pytest.fixture
def api(app_env):
    return Api(lambda_handler)


def submit(api, **extra):
    body = {"task": "echo", "parameters": {"message": uuid.uuid4().hex}, **extra}
    status, _, created = api.post("/jobs", body, iam=IAM)
    assert status == 202, created
    return created


def listing(api, **query):
    status, _, page = api.get("/jobs", urlencode(query, doseq=True))
    assert status == 200, page
    return page


def test_list_is_newest_first_and_pages_without_duplicates_or_gaps(api, db):
    first = [submit(api)["job_id"] for _ in range(5)]
    seen: list[str] = []
    page = listing(api, limit=2)
    seen += [j["job_id"] for j in page["jobs"]]
    while page["next"]:
        # Jobs that arrive while paging go to the top; the pages below are unaffected.
        submit(api)
        page = listing(api, limit=2, cursor=page["next"])
        seen += [j["job_id"] for j in page["jobs"]]
    assert seen == list(reversed(first))


def test_jobs_created_in_the_same_millisecond_are_not_lost(api, db):
    created = [submit(api)["job_id"] for _ in range(4)]
    same = datetime(2030, 1, 1, tzinfo=UTC)
    db.jobs.update_many({"_id": {"$in": created}}, {"$set": {"created_at": same}})
    seen = []
    page = listing(api, limit=1)
    seen += [j["job_id"] for j in page["jobs"]]
    while page["next"]:
        page = listing(api, limit=1, cursor=page["next"])
        seen += [j["job_id"] for j in page["jobs"]]
    assert seen[:4] == sorted(created, reverse=True)
    assert len(seen) == len(set(seen))


def test_list_filters(api, db):
    a = submit(api, tags={"team": "a", "odd.key": "x:y"})
    b = submit(api, tags={"team": "b"})
    db.jobs.update_one({"_id": b["job_id"]}, {"$set": {"status": "SUCCEEDED"}})
    ids = lambda **q: [j["job_id"] for j in listing(api, **q)["jobs"]]  # noqa: E731
    assert ids(tag="team:a") == [a["job_id"]]
    assert ids(tag=["team:a", "odd.key:x:y"]) == [a["job_id"]]
    assert ids(tag=["team:a", "odd.key:nope"]) == []
    assert ids(status="SUCCEEDED") == [b["job_id"]]
    assert set(ids(task="echo")) == {a["job_id"], b["job_id"]}
    assert ids(task="sleep") == []
    job = db.jobs.find_one({"_id": a["job_id"]})
    at = job["created_at"].replace(tzinfo=UTC)
    after = ids(created_after=(at - timedelta(milliseconds=1)).isoformat())
    assert a["job_id"] in after
    assert a["job_id"] not in ids(created_after=at.isoformat())
    assert ids(created_before=at.isoformat(), tag="team:a") == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=x", "limit"),
        ("status=DONE", "status"),
        ("created_after=yesterday", "created_after"),
        ("created_after=2026-01-01T00:00:00", "created_after"),
        ("cursor=bm90IGEgY3Vyc29y", "cursor"),
        ("tag=nocolon", "tag"),
    ],
)
def test_bad_list_parameters_are_400_problems_naming_the_field(api, query, field):
    status, headers, body = api.get("/jobs", query)
    assert status == 400, body
    assert headers["content-type"] == "application/problem+json"
    assert body["status"] == 400 and body["title"] == "Bad Request" and body["type"]
    assert body["detail"].startswith(f"{field}:"), body
    assert body["errors"][0]["field"] == field


def test_every_error_is_a_problem(api):
    status, headers, body = api.post("/jobs", {"task": "echo", "attempts": "2"})
    assert status == 400 and headers["content-type"] == "application/problem+json"
    assert body["errors"] == [{"field": "attempts", "message": "Input should be a valid integer"}]
    status, headers, body = api.get("/jobs/job-00000000000000000000000000000000")
    assert status == 404 and headers["content-type"] == "application/problem+json"
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["detail"].startswith("job_id:")


def test_the_caller_is_stored_on_the_job(api, db):
    created = submit(api)
    assert db.jobs.find_one({"_id": created["job_id"]})["created_by"] == ARN
    _, _, job = api.get(f"/jobs/{created['job_id']}")
    assert job["created_by"] == ARN
    local = {"accessKey": "overlord-local", "userArn": None}
    _, _, other = api.post("/jobs", {"task": "echo", "parameters": {"message": "n"}}, iam=local)
    assert db.jobs.find_one({"_id": other["job_id"]})["created_by"] == "overlord-local"


def test_logs_come_in_reading_order_not_time_order(api, db):
    created = submit(api)
    job_id, batch_job_id = created["job_id"], created["batch_job_id"]
    db.logs.delete_many({"job_id": job_id})
    second = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)  # states are dated to the second
    line = lambda **kw: schema.log_record(job_id=job_id, batch_job_id=batch_job_id, **kw)  # noqa: E731
    state = lambda s: schema.state_record(job_id, batch_job_id, s, second, None)  # noqa: E731
    records = [
        line(attempt=0, kind="result", seq=0, ts=second, message="result"),
        state("SUCCEEDED"),
        line(attempt=1, kind="log", seq=1, ts=second - timedelta(seconds=5), message="log 1"),
        line(attempt=1, kind="log", seq=0, ts=second, message="log 0"),
        state("RUNNING"),
        state("PENDING"),
        state("SUBMITTED"),
        line(attempt=0, kind="submission", seq=0, ts=second + timedelta(1), message="submitted"),
    ]
    db.logs.insert_many(records)
    order = [
        "submitted",
        "SUBMITTED",
        "PENDING",
        "RUNNING",
        "log 0",
        "log 1",
        "SUCCEEDED",
        "result",
    ]
    status, _, page = api.get(f"/jobs/{job_id}/logs")
    assert [x["message"] for x in page["lines"]] == order
    assert {x["run"] for x in page["lines"]} == {1}
    # Paging with the cursor gives the same order, one line at a time.
    got, cursor = [], None
    while True:
        query = "limit=1" + (f"&cursor={cursor}" if cursor else "")
        _, _, page = api.get(f"/jobs/{job_id}/logs", query)
        got += [x["message"] for x in page["lines"]]
        if not page["next"]:
            break
        cursor = page["next"]
    assert got == order
    _, _, page = api.get(f"/jobs/{job_id}/logs", "kind=state&kind=result")
    assert [x["message"] for x in page["lines"]] == order[1:4] + order[6:]
    _, _, page = api.get(f"/jobs/{job_id}/logs", "attempt=1")
    assert [x["message"] for x in page["lines"]] == ["log 0", "log 1"]
    status, _, body = api.get(f"/jobs/{job_id}/logs", "run=2")
    assert status == 400 and body["detail"].startswith("run:")


def test_cancel_trusts_batch_over_a_stale_record(api, db, aws):
    """Our record still says SUBMITTED while Batch says the job ended, so there is nothing
    to cancel. (Cancel itself: tests/e2e.) moto's Batch ends the job at once without a
    Docker engine, and after trying to start its container with one: wait for that."""
    created = submit(api)
    deadline = time.monotonic() + 60
    while True:
        [described] = aws.batch.describe_jobs(jobs=[created["batch_job_id"]])["jobs"]
        if described["status"] in ("SUCCEEDED", "FAILED") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    ended = described["status"]
    assert ended in ("SUCCEEDED", "FAILED"), described
    status, _, body = api.post(f"/jobs/{created['job_id']}/cancel", {"reason": "x"}, iam=IAM)
    assert status == 409 and f"has already ended ({ended})" in body["detail"], body
    assert "cancel" not in db.runs.find_one({"_id": created["batch_job_id"]})


def test_cancel_without_an_active_run_is_409(api, db):
    created = submit(api)
    db.jobs.update_one(
        {"_id": created["job_id"]},
        {"$set": {"status": "SUCCEEDED", "latest_run.status": "SUCCEEDED"}},
    )
    status, headers, body = api.post(f"/jobs/{created['job_id']}/cancel")
    assert status == 409 and headers["content-type"] == "application/problem+json"
    assert "no run is active" in body["detail"]
    assert "cancel" not in db.runs.find_one({"_id": created["batch_job_id"]})
    status, _, body = api.post(f"/jobs/{created['job_id']}/cancel", {"why": 1})
    assert status == 400 and body["detail"].startswith("why:")
