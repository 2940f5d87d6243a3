"""MongoDB commands per step of the flow, counted with pymongo's command monitoring.

The budget (issue 7): a non-terminal event 2 commands, a terminal event 3, each plus its
inserts of log lines; a new submission 3 (claim; point the job at the run; insert the
run) plus its log lines. A regression that adds a read or a write fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from pymongo import MongoClient, monitoring

from overlord.adapters.mongo_store import MongoStore
from overlord.domain.clock import utcnow
from overlord.domain.observation import Attempt, RunObservation
from overlord.domain.request import validate_job_request
from overlord.ports import LogLine
from overlord.services import record, submit
from overlord_contracts.bucket_layout import result_key
from overlord_contracts.catalogue import catalogue
from tests.unit.fakes import FakeBatch, FakeLogStreams, FakeObjects

CONFIG = submit.SubmitConfig(
    job_queue="q", catalogue=catalogue(), job_definition_prefix="", overrides_budget=6144
)


class Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        collection = event.command.get(event.command_name)
        self.seen.append((event.command_name, collection if isinstance(collection, str) else ""))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def take(self) -> tuple[list[tuple[str, str]], int]:
        """(commands other than log inserts, log inserts) since the last take."""
        seen, self.seen = self.seen, []
        log_inserts = [c for c in seen if c == ("insert", "logs")]
        return [c for c in seen if c != ("insert", "logs")], len(log_inserts)


@pytest.fixture
def counted(mongodb_uri: str, db) -> Iterator[tuple[MongoStore, Commands]]:
    commands = Commands()
    client: MongoClient = MongoClient(
        mongodb_uri, tz_aware=True, event_listeners=[commands], serverSelectionTimeoutMS=5000
    )
    store = MongoStore(client[db.name])
    store.ensure_indexes()  # once per process, at start: not part of any request
    commands.take()
    yield store, commands
    client.close()


def test_commands_per_submission_and_per_event(counted) -> None:
    store, commands = counted
    batch, objects, streams = FakeBatch(), FakeObjects(), FakeLogStreams()
    request = validate_job_request({"task": "echo", "parameters": {"message": "count"}})

    sub = submit.submit_job(store, batch, objects, CONFIG, request)
    submitted, log_inserts = commands.take()
    # claim, the run, the job's pointer, then a read of the run: the job follows it only
    # if an event moved it first (issue 23's order, the run before the job points at it,
    # costs one command more than the 3 before it; docs/reliability.md).
    assert submitted == [
        ("insert", "jobs"),
        ("insert", "runs"),
        ("update", "jobs"),
        ("find", "runs"),
    ]
    assert log_inserts == 1

    now = utcnow()
    running = RunObservation(sub.batch_job_id, sub.job_id, "RUNNING", now)
    assert record.record_observation(store, streams, objects, running).moved
    moved, log_inserts = commands.take()
    assert len(moved) <= 2, moved
    assert log_inserts == 1  # its state line

    objects.put_text(result_key(sub.job_id, sub.batch_job_id), '{"ok": true}')
    streams.streams["s"] = [LogLine(now, "hello")]
    done = RunObservation(
        sub.batch_job_id,
        sub.job_id,
        "SUCCEEDED",
        now + timedelta(seconds=1),
        attempts=(Attempt(1, now, now, 0, None, "s"),),
    )
    outcome = record.record_observation(store, streams, objects, done)
    assert outcome.moved and outcome.log_lines == 2
    terminal, log_inserts = commands.take()
    assert len(terminal) <= 3, terminal
    assert log_inserts == 2  # the copied lines (one insert for all), then the state line

    again = submit.submit_job(store, batch, objects, CONFIG, request)
    assert not again.created and again.status == "SUCCEEDED"
    duplicate, _ = commands.take()
    assert len(duplicate) <= 3, duplicate  # insert refused, retake refused, read


def test_commands_per_array_submission_and_per_child_event(counted) -> None:
    """An array costs one more command than a job (its items); a child's first event
    creates its run in one insert (after the job's known), later ones are the run's
    update alone: children never write the job."""
    store, commands = counted
    batch, objects, streams = FakeBatch(), FakeObjects(), FakeLogStreams()
    items = [{"message": f"count {i}"} for i in range(3)]
    request = validate_job_request({"task": "echo", "items": items})
    sub = submit.submit_job(store, batch, objects, CONFIG, request)
    submitted, _ = commands.take()
    assert len(submitted) <= 5, submitted  # a job's 4 and its items

    now = utcnow()
    child = f"{sub.batch_job_id}:1"

    def event(status: str, second: int, **extra: object) -> RunObservation:
        return RunObservation(
            child,
            sub.job_id,
            status,
            now + timedelta(seconds=second),
            parent=sub.batch_job_id,
            index=1,
            **extra,  # type: ignore[arg-type]
        )

    assert record.record_observation(store, streams, objects, event("PENDING", 0)).moved
    first, log_inserts = commands.take()
    assert first == [("find", "jobs"), ("insert", "runs")] and log_inserts == 1, first

    assert record.record_observation(store, streams, objects, event("RUNNING", 1)).moved
    moved, log_inserts = commands.take()
    assert moved == [("update", "runs")] and log_inserts == 1

    streams.streams["c"] = [LogLine(now, "child line")]
    done = event("SUCCEEDED", 2, attempts=(Attempt(1, now, now, 0, None, "c"),))
    assert record.record_observation(store, streams, objects, done).moved
    terminal, log_inserts = commands.take()
    # its run, then a look at the parent: it has not ended, so nothing is recounted and
    # the job stays (the recount, not an increment, comes once the parent has ended)
    assert terminal == [("find", "runs"), ("update", "runs"), ("find", "runs")], terminal
    assert log_inserts == 2


def test_commands_per_sqs_batch_of_ten_jobs(counted) -> None:
    """Issue 19: a batch is recorded with one write per collection. Ten jobs' events of
    one status (a burst's batch): the runs in one command, the jobs in one, the state
    lines in one insert; SUBMITTED (the submitter's run already there) the runs only,
    its state lines meeting the submitter's in one update; a terminal batch also reads
    each run (whether to copy) and inserts the copied lines, once for the batch."""
    store, commands = counted
    batch, objects, streams = FakeBatch(), FakeObjects(), FakeLogStreams()
    subs = [
        submit.submit_job(
            store,
            batch,
            objects,
            CONFIG,
            validate_job_request({"task": "echo", "parameters": {"message": f"batch {i}"}}),
        )
        for i in range(10)
    ]
    commands.take()
    now = utcnow()

    def status(name: str, second: int, **extra: object) -> list[RunObservation]:
        return [
            RunObservation(
                s.batch_job_id,
                s.job_id,
                name,
                now + timedelta(seconds=second),
                **extra,  # type: ignore[arg-type]
            )
            for s in subs
        ]

    outcomes = record.record_batch(store, streams, objects, status("SUBMITTED", 0))
    assert all(isinstance(o, record.Outcome) and o.recorded for o in outcomes), outcomes
    submitted, log_inserts = commands.take()
    assert submitted == [("update", "runs"), ("update", "logs")], submitted
    assert log_inserts == 1
    # what one event's late path writes: the attempts rank, no stream yet (`$max` of null)
    run = store.runs.find_one({"_id": subs[0].batch_job_id})
    assert run["attempts_rank"] == 1 and "log_stream" in run and run["log_stream"] is None
    commands.take()  # that read

    for second, name in enumerate(("PENDING", "RUNNABLE", "STARTING", "RUNNING"), 1):
        stream = {"log_stream": "s"} if name == "RUNNING" else {}
        outcomes = record.record_batch(store, streams, objects, status(name, second, **stream))
        assert all(isinstance(o, record.Outcome) and o.moved for o in outcomes), outcomes
        moved, log_inserts = commands.take()
        assert moved == [("update", "runs"), ("update", "jobs")], (name, moved)
        assert log_inserts == 1

    for s in subs:
        objects.put_text(result_key(s.job_id, s.batch_job_id), '{"ok": true}')
    streams.streams["s"] = [LogLine(now, "hello")]
    attempt = (Attempt(1, now, now, 0, None, "s"),)
    outcomes = record.record_batch(
        store, streams, objects, status("SUCCEEDED", 6, attempts=attempt, log_stream="s")
    )
    assert [o.ended for o in outcomes if isinstance(o, record.Outcome)] == ["SUCCEEDED"] * 10
    terminal, log_inserts = commands.take()
    # each ending alone: only its own write tells whether it ended the job (JobsEnded)
    ends = [("update", "runs"), ("update", "jobs")] * 10
    assert terminal == [("find", "runs")] * 10 + ends, terminal
    assert log_inserts == 2  # the copied lines (results and attempts' lines), the state lines
    assert {j["status"] for j in store.jobs.find()} == {"SUCCEEDED"}
    commands.take()  # that read

    # SUBMITTED delivered again, late: the same one update, which keeps the stream
    outcomes = record.record_batch(store, streams, objects, status("SUBMITTED", 0))
    assert all(isinstance(o, record.Outcome) and not o.moved for o in outcomes), outcomes
    late, _ = commands.take()
    assert late == [("update", "runs"), ("update", "logs")], late
    run = store.runs.find_one({"_id": subs[0].batch_job_id})
    assert run["log_stream"] == "s" and run["status"] == "SUCCEEDED"
