"""MongoDB stopped at the worst moments: between the claim and the run record, and while
Batch's events arrive. Nothing accepted is lost, nothing runs twice."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.faults.conftest import TERMINAL, Flow, wait_for


def hook_after_submit(flow: Flow, action) -> list[str]:
    """Run `action` once, right after the local Batch has created a job and before the
    caller gets its answer. Returns the Batch job IDs created under the hook."""
    batch = flow.batch_server.batch
    original = batch.submit_job
    created: list[str] = []

    def submit_job(request: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        answer = original(request, **kwargs)
        if not created:
            created.append(answer["jobId"])
            action()
        return answer

    batch.submit_job = submit_job  # type: ignore[method-assign]
    return created


def test_mongo_lost_between_submit_and_run_record(make_flow):
    flow = make_flow()
    created = hook_after_submit(flow, flow.stop_mongo)
    request = {"task": "echo", "parameters": {"message": "stranded"}}

    status, _, body = flow.api.post("/jobs", request)
    # The job reached Batch but could not be recorded: the client is told to retry.
    assert status == 503, body
    assert "MongoDB" in body["detail"], body
    assert len(created) == 1
    batch_job_id = created[0]
    # The Batch job runs to the end meanwhile; its events cannot be recorded either.
    flow.wait_batch_done()

    flow.start_mongo()
    # The router's retries deliver the events first (AWS would have too, within minutes);
    # reconcile then finds a finished run that no submission recorded.
    flow.drain()
    # The submitter that answered 503 still holds the claim until its lease lapses;
    # reconcile leaves a live claim alone, so let the lease run out first.
    live = flow.reconcile()
    assert live["adopted"] == [], live
    lapsed = datetime.now(UTC) - timedelta(seconds=1)
    flow.db.jobs.update_many({}, {"$set": {"claim.expires_at": lapsed}})
    report = flow.reconcile()
    job_id = body.get("job_id") or flow.db.jobs.find_one()["_id"]

    assert report["adopted"] == [job_id], report
    job = flow.db.jobs.find_one({"_id": job_id})
    assert job["status"] == "SUCCEEDED", job
    # The run had finished (unnumbered, from the events) before reconcile adopted it:
    # the job must still show the run's result.
    run = flow.db.runs.find_one({"_id": batch_job_id})
    assert job["result"] is not None and job["result"] == run["result"], job
    assert job["run_count"] == 1 and job["latest_run"]["batch_job_id"] == batch_job_id
    runs = list(flow.db.runs.find({"job_id": job_id}))
    assert [(r["_id"], r["run"], r["status"]) for r in runs] == [(batch_job_id, 1, "SUCCEEDED")]
    assert [j["jobId"] for j in flow.batch_jobs_named(job_id)] == [batch_job_id]
    assert flow.db.logs.count_documents({"batch_job_id": batch_job_id, "kind": "log"}) >= 1

    # The client's retry finds the job, and submits nothing.
    status, _, again = flow.api.post("/jobs", request)
    assert status == 200 and again["batch_job_id"] == batch_job_id, again
    assert len(flow.batch_jobs_named(job_id)) == 1


# ----------------------------------------------------------------- events arriving


REQUESTS = [
    {"task": "echo", "parameters": {"message": "one"}},
    {"task": "echo", "parameters": {"message": "two"}},
    {"task": "fail", "parameters": {"exit_code": 3, "message": "no"}},
    {"task": "fail", "parameters": {"succeed_on_attempt": 2}, "attempts": 2},
]
_TIME = re.compile(r"\d{4}-\d\d-\d\d[T ][\d:.,]+Z?(\+00:00)?")


def normalised(flow: Flow) -> dict[str, Any]:
    """The three collections without times and Batch's IDs (they differ run to run)."""
    ids: dict[str, str] = {}

    def alias(batch_job_id: str) -> str:
        return ids.setdefault(batch_job_id, f"B{len(ids)}")

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if not _volatile(k, v)}
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, str):
            for real, fake in ids.items():
                value = value.replace(real, fake)
            return _TIME.sub("T", value)
        return value

    for job in flow.db.jobs.find().sort("_id"):
        if job["latest_run"]:
            alias(job["latest_run"]["batch_job_id"])
    jobs = [clean(j) for j in flow.db.jobs.find().sort("_id")]
    runs = sorted((clean(r) for r in flow.db.runs.find()), key=lambda r: r["_id"])
    logs = sorted(
        (clean(x) for x in flow.db.logs.find()),
        key=lambda x: (x["batch_job_id"], x["attempt"], x["kind"], x["seq"]),
    )
    for line in logs:
        if line["kind"] == "log":  # the worker's JSON lines carry their own time and IDs
            line["message"] = re.sub(r'"(timestamp|xray_trace_id)": ?"[^"]*"', "", line["message"])
    return {"jobs": jobs, "runs": runs, "logs": logs}


def _volatile(key: str, value: Any) -> bool:
    from datetime import datetime

    from bson import ObjectId

    return (
        isinstance(value, datetime | ObjectId)
        or key in {"reconciled_at", "claim", "log_stream"}
        or key.endswith("_at")
    )


def run_all(flow: Flow, during=None) -> None:
    for request in REQUESTS:
        status, _, body = flow.api.post("/jobs", request)
        assert status == 202, body
    if during:
        during()
    flow.wait_batch_done()
    flow.drain()
    wait_for(lambda: all(j["status"] in TERMINAL for j in flow.db.jobs.find()), 60, "jobs to end")


def test_mongo_down_while_events_arrive_loses_nothing(make_flow):
    undisturbed = make_flow()
    run_all(undisturbed)
    expected = normalised(undisturbed)
    assert not undisturbed.router.stats.dead_letters

    disturbed = make_flow()
    refused: list[str] = []
    deliver = disturbed.deliver

    def counting(event: dict[str, Any]) -> Any:
        try:
            return deliver(event)
        except Exception as exc:
            refused.append(type(exc).__name__)
            raise

    disturbed.deliver = counting

    def outage() -> None:
        disturbed.stop_mongo()
        # Down until every job has finished and the recorder has given up at least once
        # (the store's own retries outlast a short outage, which then proves nothing).
        disturbed.wait_batch_done()
        wait_for(lambda: refused, 60, "a delivery to fail")
        disturbed.start_mongo()

    run_all(disturbed, during=outage)
    assert refused, "no delivery met the outage: the test proved nothing"
    assert disturbed.router.stats.failed == 0, disturbed.router.stats.dead_letters
    assert len(expected["jobs"]) == len(REQUESTS)
    assert normalised(disturbed) == expected
