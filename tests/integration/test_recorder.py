"""The recorder handler with events shaped like AWS's sample, over MongoDB, S3 and Logs."""

from __future__ import annotations

import json
import random
import time
import uuid

import pytest

from overlord.domain.errors import StoreUnavailable
from overlord_local.provision import LOG_GROUP
from overlord_recorder.handler import lambda_handler
from overlord_submitter.handler import lambda_handler as submitter
from tests.conftest import RESULTS_BUCKET, environment
from tests.support.api import Api
from tests.support.events import run_events, sample_event, state_event


@pytest.fixture
def submitted(app_env):
    """A job submitted through the API (moto's Batch), with its run's id."""
    _, _, body = Api(submitter).post(
        "/jobs", {"task": "echo", "parameters": {"message": uuid.uuid4().hex}}
    )
    return body


def put_logs(aws, stream, lines):
    aws.logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
    now = int(time.time() * 1000)
    for start in range(0, len(lines), 5000):
        chunk = lines[start : start + 5000]
        aws.logs.put_log_events(
            logGroupName=LOG_GROUP,
            logStreamName=stream,
            logEvents=[{"timestamp": now + start + i, "message": m} for i, m in enumerate(chunk)],
        )


def put_result(aws, job_id, batch_job_id, body):
    aws.s3.put_object(
        Bucket=RESULTS_BUCKET,
        Key=f"results/{job_id}/{batch_job_id}.json",
        Body=body if isinstance(body, bytes) else json.dumps(body).encode(),
    )


def deliver(events, context):
    return [lambda_handler(e, context) for e in events]


def snapshot(db, job_id):
    """The three collections for a job, without server-side clock fields and ObjectIds."""
    volatile = {"updated_at", "_id"}

    def clean(doc):
        return {k: v for k, v in doc.items() if k not in volatile}

    job = clean(db.jobs.find_one({"_id": job_id}))
    runs = sorted((clean(r) for r in db.runs.find({"job_id": job_id})), key=lambda r: r["run"])
    logs = sorted(
        (clean(x) for x in db.logs.find({"job_id": job_id, "kind": {"$ne": "submission"}})),
        key=lambda x: (x["attempt"], x["kind"], x["seq"]),
    )
    return job, runs, logs


def test_a_run_recorded_in_order(submitted, db, aws, lambda_context):
    job_id, batch_job_id = submitted["job_id"], submitted["batch_job_id"]
    stream = f"overlord-worker/default/{uuid.uuid4().hex}"
    put_logs(aws, stream, ["starting", "hello world", "done"])
    put_result(aws, job_id, batch_job_id, {"status": "SUCCEEDED", "output": {"message": "hi"}})

    outcomes = deliver(run_events(job_id, batch_job_id, stream), lambda_context)
    assert all(o["recorded"] for o in outcomes)

    run = db.runs.find_one({"_id": batch_job_id})
    assert run["status"] == "SUCCEEDED"
    assert list(run["status_history"]) and set(run["status_history"]) == {
        "SUBMITTED",
        "PENDING",
        "RUNNABLE",
        "STARTING",
        "RUNNING",
        "SUCCEEDED",
    }
    assert run["attempts"] == [
        {
            "attempt": 1,
            "started_at": run["attempts"][0]["started_at"],
            "stopped_at": run["attempts"][0]["stopped_at"],
            "exit_code": 0,
            "reason": "Essential container in task exited",
            "log_stream": stream,
        }
    ]
    assert run["result"]["summary"]["output"] == {"message": "hi"}
    job = db.jobs.find_one({"_id": job_id})
    assert job["status"] == "SUCCEEDED" and job["latest_run"]["status"] == "SUCCEEDED"
    assert job["result"]["uri"] == f"s3://{RESULTS_BUCKET}/results/{job_id}/{batch_job_id}.json"
    lines = [x["message"] for x in db.logs.find({"job_id": job_id, "kind": "log"}).sort("seq")]
    assert lines == ["starting", "hello world", "done"]
    states = [x["status"] for x in db.logs.find({"job_id": job_id, "kind": "state"}).sort("seq")]
    assert states == ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"]


def test_three_shuffled_deliveries_equal_one_ordered(submitted, db, aws, lambda_context):
    job_id, batch_job_id = submitted["job_id"], submitted["batch_job_id"]
    stream = f"overlord-worker/default/{uuid.uuid4().hex}"
    put_logs(aws, stream, ["a", "b"])
    put_result(aws, job_id, batch_job_id, {"ok": True})
    events = run_events(job_id, batch_job_id, stream)
    as_submitted = {name: list(db[name].find()) for name in ("jobs", "runs", "logs")}

    def restore():
        for name, docs in as_submitted.items():
            db[name].delete_many({})
            db[name].insert_many(docs)

    deliver(events, lambda_context)
    once_in_order = snapshot(db, job_id)
    restore()
    shuffled = events * 3
    random.Random(7).shuffle(shuffled)
    assert [e["detail"]["status"] for e in shuffled] != [e["detail"]["status"] for e in events] * 3
    deliver(shuffled, lambda_context)
    assert snapshot(db, job_id) == once_in_order


def test_running_after_succeeded_changes_nothing(submitted, db, aws, lambda_context):
    job_id, batch_job_id = submitted["job_id"], submitted["batch_job_id"]
    deliver(run_events(job_id, batch_job_id, "s/none"), lambda_context)
    before = (
        db.jobs.find_one({"_id": job_id}),
        db.runs.find_one({"_id": batch_job_id}),
        db.logs.count_documents({}),
    )
    # Both a late copy of the RUNNING event and one stamped after SUCCEEDED (hyp3 #1539).
    late_copy = run_events(job_id, batch_job_id, "s/none")[3]
    assert late_copy["detail"]["status"] == "RUNNING"
    for event in (late_copy, state_event(job_id, batch_job_id, "RUNNING", step=99)):
        assert lambda_handler(event, lambda_context)["moved"] is False
    after = (
        db.jobs.find_one({"_id": job_id}),
        db.runs.find_one({"_id": batch_job_id}),
        db.logs.count_documents({}),
    )
    assert after == before


def test_failed_run_records_exit_code_and_reason(submitted, db, lambda_context):
    job_id, batch_job_id = submitted["job_id"], submitted["batch_job_id"]
    events = run_events(job_id, batch_job_id, "s/failed", exit_code=3)
    events[-1]["detail"]["statusReason"] = "Essential container in task exited"
    deliver(events, lambda_context)
    run = db.runs.find_one({"_id": batch_job_id})
    assert run["status"] == "FAILED" and run["attempts"][0]["exit_code"] == 3
    assert run["status_reason"] == "Essential container in task exited"
    assert db.jobs.find_one({"_id": job_id})["status"] == "FAILED"


def test_events_for_other_jobs_are_ignored(app_env, db, lambda_context):
    sample = sample_event()
    assert lambda_handler(sample, lambda_context)["recorded"] is False
    unknown = state_event("job-" + "0" * 32, str(uuid.uuid4()), "RUNNING")
    assert lambda_handler(unknown, lambda_context)["recorded"] is False
    assert "runs" not in db.list_collection_names() or db.runs.count_documents({}) == 0


def test_logs_are_capped_with_a_truncation_record(submitted, db, aws, lambda_context, monkeypatch):
    monkeypatch.setattr("overlord.services.record.LOG_LINES_CAP", 5)
    job_id, batch_job_id = submitted["job_id"], submitted["batch_job_id"]
    stream = f"overlord-worker/default/{uuid.uuid4().hex}"
    put_logs(aws, stream, [f"line {i}" for i in range(12)])
    deliver(run_events(job_id, batch_job_id, stream), lambda_context)
    lines = list(db.logs.find({"job_id": job_id, "kind": "log"}).sort("seq"))
    assert [x["message"] for x in lines[:5]] == [f"line {i}" for i in range(5)]
    assert len(lines) == 6 and lines[-1]["truncated"] is True
    assert "truncated after 5 lines" in lines[-1]["message"]


def test_log_pages_are_followed(submitted, db, aws, lambda_context):
    job_id, batch_job_id = submitted["job_id"], submitted["batch_job_id"]
    stream = f"overlord-worker/default/{uuid.uuid4().hex}"
    put_logs(aws, stream, [f"l{i}" for i in range(12000)])
    deliver(run_events(job_id, batch_job_id, stream), lambda_context)
    assert db.logs.count_documents({"job_id": job_id, "kind": "log"}) == 10_001


def test_oversized_result_is_referenced_not_copied(submitted, db, aws, lambda_context):
    job_id, batch_job_id = submitted["job_id"], submitted["batch_job_id"]
    put_result(aws, job_id, batch_job_id, b'{"x": "' + b"y" * (300 * 1024) + b'"}')
    deliver(run_events(job_id, batch_job_id, "s/none"), lambda_context)
    result = db.jobs.find_one({"_id": job_id})["result"]
    assert result["truncated"] is True and result["size"] > 256 * 1024
    assert "summary" not in result


def test_mongo_errors_propagate_so_eventbridge_retries(app_env, lambda_context):
    from overlord.runtime import wiring

    event = state_event("job-" + "1" * 32, str(uuid.uuid4()), "RUNNING")
    with environment(MONGODB_URI="mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=200"):
        wiring.reset()
        with pytest.raises(StoreUnavailable):
            lambda_handler(event, lambda_context)
    wiring.reset()


# --------------------------------------------------------------------------- SQS batches


def sqs_batch(events):
    """The event source mapping's invocation: one SQS record per EventBridge event."""
    return {
        "Records": [
            {
                "messageId": f"m-{i}",
                "receiptHandle": f"r-{i}",
                "body": e if isinstance(e, str) else json.dumps(e),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:overlord-batch-events",
                "awsRegion": "us-east-1",
            }
            for i, e in enumerate(events)
        ]
    }


def test_a_shuffled_batch_with_duplicates_equals_one_ordered_run(
    submitted, db, aws, lambda_context
):
    """Several events of one run in one batch, out of order, some twice: the same
    documents as the run delivered one event at a time, in order, and no failures."""
    job_id, batch_job_id = submitted["job_id"], submitted["batch_job_id"]
    stream = f"overlord-worker/default/{uuid.uuid4().hex}"
    put_logs(aws, stream, ["a", "b"])
    put_result(aws, job_id, batch_job_id, {"ok": True})
    events = run_events(job_id, batch_job_id, stream)
    as_submitted = {name: list(db[name].find()) for name in ("jobs", "runs", "logs")}

    deliver(events, lambda_context)
    once_in_order = snapshot(db, job_id)
    for name, docs in as_submitted.items():
        db[name].delete_many({})
        db[name].insert_many(docs)

    shuffled = events + events[1:3]
    random.Random(3).shuffle(shuffled)
    assert lambda_handler(sqs_batch(shuffled), lambda_context) == {"batchItemFailures": []}
    assert snapshot(db, job_id) == once_in_order


def test_a_batch_that_partly_fails_names_only_the_failed_messages(
    submitted, db, aws, lambda_context
):
    """A message that cannot be read fails alone; the rest of the batch is recorded,
    and SQS is told to deliver that one message again."""
    job_id, batch_job_id = submitted["job_id"], submitted["batch_job_id"]
    running = state_event(job_id, batch_job_id, "RUNNING", step=4)
    answer = lambda_handler(sqs_batch([running, '{"detail": "not an event"}']), lambda_context)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert db.runs.find_one({"_id": batch_job_id})["status"] == "RUNNING"


def test_a_batch_whose_every_message_fails_fails_the_invocation(app_env, lambda_context):
    """MongoDB down: every message fails, the invocation raises, and SQS keeps the
    whole batch for another delivery."""
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    from overlord.runtime import wiring

    events = [state_event("job-" + "2" * 32, str(uuid.uuid4()), "RUNNING") for _ in range(2)]
    with environment(MONGODB_URI="mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=200"):
        wiring.reset()
        with pytest.raises(BatchProcessingError):
            lambda_handler(sqs_batch(events), lambda_context)
    wiring.reset()
