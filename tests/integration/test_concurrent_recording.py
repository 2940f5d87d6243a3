"""Writes that race: the documents must not depend on the interleaving.

EventBridge invokes the recorder concurrently, with events of one run in any order and
more than once, and the submitter records a run while its events may already arrive (a
lost SubmitJob answer adopted on the client's retry, or simply a fast first event). The
tests below drive those interleavings through the real recorder handler and the submit
service's `record_accepted_run` against MongoDB, S3 and Logs: once in every fixed order
(deterministic) and once from many threads at a time over many runs (where a lost update
shows as a missing run number, status or history entry).
"""

from __future__ import annotations

import io
import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from overlord.domain import schema
from overlord.domain.clock import utcnow
from overlord.domain.request import validate_job_request
from overlord.runtime import wiring
from overlord.services.submit import CLAIM_LEASE, record_accepted_run
from overlord_local.lambdas import LocalLambdaContext
from overlord_local.provision import LOG_GROUP
from overlord_recorder.handler import lambda_handler as recorder
from overlord_recorder.handler import logger as recorder_logger
from tests.conftest import RESULTS_BUCKET
from tests.support.events import attempt, state_event

QUEUE_NAME, DEFINITION_NAME = "overlord-test", "overlord-fail"


def retried_run_events(job_id: str, batch_job_id: str) -> list[dict[str, Any]]:
    """A run's events in order: its first attempt exits 1, Batch retries it, the second
    attempt succeeds (the states from RUNNABLE on come twice, with different attempts)."""
    first = f"{DEFINITION_NAME}/default/{batch_job_id}"
    second = f"{first}-2"
    one = [attempt(first, 1, started=5, stopped=6)]
    both = [*one, attempt(second, 0, started=9, stopped=10)]
    plan: list[tuple[str, list[dict[str, Any]], str | None]] = [
        ("SUBMITTED", [], None),
        ("PENDING", [], None),
        ("RUNNABLE", [], None),
        ("STARTING", [], None),
        ("RUNNING", [], first),
        ("RUNNABLE", one, None),
        ("STARTING", one, None),
        ("RUNNING", one, second),
        ("SUCCEEDED", both, second),
    ]
    return [
        state_event(job_id, batch_job_id, status, step=step, attempts=attempts, log_stream=stream)
        for step, (status, attempts, stream) in enumerate(plan, start=1)
    ]


class Runs:
    """Jobs claimed as a submitter claims them, each with a Batch job ID, its log streams
    in CloudWatch Logs and its result in S3 (the recorder copies both when it ends)."""

    def __init__(self, aws: Any) -> None:
        self.aws = aws
        self.store = wiring.components().store

    def new(self) -> tuple[schema.JobDocument, str]:
        request = validate_job_request(
            {"task": "fail", "parameters": {"succeed_on_attempt": 2, "n": uuid.uuid4().hex}}
        )
        now = utcnow()
        claimed = self.store.claim_job(schema.new_job(request, now), "me", now, CLAIM_LEASE)
        assert claimed.claimed
        job, batch_job_id = claimed.job, str(uuid.uuid4())
        stream = f"{DEFINITION_NAME}/default/{batch_job_id}"
        for name, lines in ((stream, ["first try", "exit 1"]), (f"{stream}-2", ["second", "ok"])):
            self.aws.logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=name)
            self.aws.logs.put_log_events(
                logGroupName=LOG_GROUP,
                logStreamName=name,
                logEvents=[
                    {"timestamp": int(time.time() * 1000) + i, "message": m}
                    for i, m in enumerate(lines)
                ],
            )
        self.aws.s3.put_object(
            Bucket=RESULTS_BUCKET,
            Key=f"results/{job['_id']}/{batch_job_id}.json",
            Body=b'{"status": "SUCCEEDED", "output": {"succeeded_on_attempt": 2}}',
        )
        return job, batch_job_id

    def record_submission(self, job: schema.JobDocument, batch_job_id: str) -> None:
        """What the submitter does once Batch has the job (submitted, or adopted)."""
        record_accepted_run(
            self.store,
            job,
            batch_job_id,
            verb="submitted",
            job_queue=QUEUE_NAME,
            job_definition=DEFINITION_NAME,
        )


def deliver(event: dict[str, Any]) -> None:
    recorder(event, LocalLambdaContext())


def documents(db: Any, job_id: str, batch_job_id: str) -> dict[str, Any]:
    """The job's documents with its IDs replaced, and without the clock times the
    services take themselves (when a write happened, not what Batch reported)."""

    def clean(value: Any, *drop: str) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k not in drop}
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, str):
            return value.replace(job_id, "JOB").replace(batch_job_id, "BATCH")
        return value

    job = clean(db.jobs.find_one({"_id": job_id}), "_id", "created_at", "updated_at", "parameters")
    runs = [clean(r, "created_at", "updated_at") for r in db.runs.find({"job_id": job_id})]
    logs = sorted(
        (
            # A submission line is dated by the submitter's clock, a log line by the
            # worker's (CloudWatch): neither is part of what is being compared.
            clean(x, "_id", *(("ts",) if x["kind"] in ("submission", "log") else ()))
            for x in db.logs.find({"job_id": job_id})
        ),
        key=lambda x: (x["phase"], x["attempt"], x["kind"], x["seq"]),
    )
    return {"job": job, "runs": runs, "logs": logs}


@pytest.fixture
def runs(app_env: dict[str, str], aws: Any) -> Runs:
    return Runs(aws)


def test_the_submitters_record_and_the_events_agree_in_any_order(runs, db):
    """The submitter's record at every position among the run's events (before the
    first, after the last, and each place between) gives the same documents."""
    outcomes = []
    for position in range(len(retried_run_events("j", "b")) + 1):
        job, batch_job_id = runs.new()
        events = retried_run_events(job["_id"], batch_job_id)
        for event in events[:position]:
            deliver(event)
        runs.record_submission(job, batch_job_id)
        for event in events[position:]:
            deliver(event)
        outcomes.append((position, documents(db, job["_id"], batch_job_id)))
    (_, first), *others = outcomes
    assert first["runs"][0]["run"] == 1 and first["job"]["status"] == "SUCCEEDED", first
    differing = {
        f"recorded after {position} events": differences(first, other)
        for position, other in others
        if other != first
    }
    assert not differing, differing


def test_concurrent_deliveries_and_submissions_equal_one_ordered(runs, db):
    """Many runs at once: each run's events twice over, shuffled, from eight threads, and
    the submitter's record among them; every run ends as one delivered in order."""
    job, batch_job_id = runs.new()
    runs.record_submission(job, batch_job_id)
    for event in retried_run_events(job["_id"], batch_job_id):
        deliver(event)
    expected = documents(db, job["_id"], batch_job_id)

    racing = [runs.new() for _ in range(12)]
    calls: list[Callable[[], None]] = []
    for job, batch_job_id in racing:
        events = retried_run_events(job["_id"], batch_job_id)
        calls += [(lambda e=e: deliver(e)) for e in events * 2]
        calls.append(lambda j=job, b=batch_job_id: runs.record_submission(j, b))
    random.Random(3).shuffle(calls)
    failures = run_in_threads(calls, threads=8)
    assert not failures, failures

    differing = {}
    for job, batch_job_id in racing:
        got = documents(db, job["_id"], batch_job_id)
        if got != expected:
            differing[job["_id"]] = differences(expected, got)
    assert not differing, (f"{len(differing)} of {len(racing)} runs differ", differing)


def differences(expected: Any, got: Any, path: str = "") -> list[str]:
    """Where two documents differ, one `path: expected -> got` line per leaf."""
    if isinstance(expected, dict) and isinstance(got, dict):
        return [
            line
            for key in sorted(set(expected) | set(got), key=str)
            for line in differences(expected.get(key), got.get(key), f"{path}.{key}")
        ]
    if isinstance(expected, list) and isinstance(got, list) and len(expected) == len(got):
        return [
            line
            for i, (e, g) in enumerate(zip(expected, got, strict=True))
            for line in differences(e, g, f"{path}[{i}]")
        ]
    return [] if expected == got else [f"{path}: {_show(expected)} -> {_show(got)}"]


def _show(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else repr(value)


def run_in_threads(calls: list[Callable[[], None]], threads: int) -> list[BaseException]:
    """Each thread takes the next call off the list until none is left."""
    pending = list(reversed(calls))
    lock = threading.Lock()
    failures: list[BaseException] = []
    start = threading.Barrier(threads)

    def work() -> None:
        start.wait()
        while True:
            with lock:
                if not pending:
                    return
                call = pending.pop()
            try:
                call()
            except BaseException as exc:  # reported by the test
                failures.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return failures


def test_concurrent_invocations_each_log_their_own_event(runs):
    """In `make dev` the recorder runs in-process on several router threads: each line it
    logs carries the keys of its own event, not those of an event another thread is
    recording (Powertools' append_keys is process-wide; in Lambda one invocation at a
    time runs per process, so only the local stack would mix them)."""
    events = []
    for _ in range(4):
        job, batch_job_id = runs.new()
        runs.record_submission(job, batch_job_id)
        events += retried_run_events(job["_id"], batch_job_id)
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(recorder_logger.registered_formatter)
    std_logger = logging.getLogger(recorder_logger.name)
    level = std_logger.level
    std_logger.addHandler(handler)
    std_logger.setLevel(logging.INFO)
    try:
        failures = run_in_threads([lambda e=e: deliver(e) for e in events], threads=8)
    finally:
        std_logger.removeHandler(handler)
        std_logger.setLevel(level)
    assert not failures, failures
    logged = [
        line
        for text in written.getvalue().splitlines()
        if (line := json.loads(text)).get("message") == "recorded event"
    ]
    delivered = sorted((e["id"], e["detail"]["jobId"], e["detail"]["jobName"]) for e in events)
    assert sorted((x["event_id"], x["batch_job_id"], x["job_id"]) for x in logged) == delivered
