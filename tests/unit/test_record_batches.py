"""Recording an SQS batch together (services.record.record_batch, Store.apply_observations)
over the in-memory store: the same documents as one event at a time, one write per
collection in a burst, failures confined to their events, stops repaired by redelivery."""

from __future__ import annotations

import contextlib
import random
from datetime import timedelta
from typing import Any

import pytest

from overlord.domain.errors import StoreUnavailable
from overlord.domain.observation import Attempt, RunObservation
from overlord.domain.request import validate_job_request
from overlord.domain.status import rank
from overlord.ports import LogLine
from overlord.services import record
from overlord_contracts.bucket_layout import result_key
from tests.unit.fakes import T0, FakeBatch, FakeLogStreams, FakeObjects, FakeStore
from tests.unit.test_services import (
    array_history,
    full_history,
    observation,
    post,
    request,
    snapshot,
)


class Stop(BaseException):
    """The process stopped (as the simulator's Crash: no service catches it)."""


def jobs(store, objects, n):
    batch = FakeBatch()
    return [post(store, batch, objects, request(message=f"m{i}")) for i in range(n)]


def life(sub):
    """Every event of a job that runs once, SUBMITTED included; its result and line."""
    return [observation(sub, "SUBMITTED", 0), *full_history(sub)]


def recording_order(events):
    """What the handler's in_recording_order does to the messages, on observations."""
    first: dict[str, int] = {}
    for i, e in enumerate(events):
        first.setdefault(e.batch_job_id, i)
    return sorted(events, key=lambda e: (first[e.batch_job_id], rank(e.status), e.observed_at))


def stage(objects, streams, subs):
    streams.streams["def/default/x"] = [LogLine(T0, "hello")]
    for sub in subs:
        objects.put_text(result_key(sub.job_id, sub.batch_job_id), '{"ok": true}')


def one_at_a_time(n):
    store, objects, streams = FakeStore(), FakeObjects(), FakeLogStreams()
    subs = jobs(store, objects, n)
    stage(objects, streams, subs)
    for sub in subs:
        for event in life(sub):
            record.record_observation(store, streams, objects, event)
    return snapshot(store)


def test_batches_out_of_order_with_duplicates_equal_one_event_at_a_time():
    reference = one_at_a_time(3)
    for seed in range(20):
        store, objects, streams = FakeStore(), FakeObjects(), FakeLogStreams()
        subs = jobs(store, objects, 3)
        stage(objects, streams, subs)
        events = [e for sub in subs for e in life(sub)]
        events += random.Random(seed).sample(events, 6)  # duplicates
        random.Random(seed).shuffle(events)
        for start in range(0, len(events), 10):
            outcomes = record.record_batch(
                store, streams, objects, recording_order(events[start : start + 10])
            )
            assert all(isinstance(o, record.Outcome) for o in outcomes), outcomes
        assert snapshot(store) == reference, seed


def writes_of(store: FakeStore, call) -> tuple[list[str], Any]:
    seen: list[str] = []
    store.on_write = seen.append
    try:
        return seen, call()
    finally:
        store.on_write = lambda what: None


def test_a_burst_moves_every_run_with_one_write_per_collection(store, objects, streams):
    subs = jobs(store, objects, 10)
    stage(objects, streams, subs)
    for status, second in (("PENDING", 1), ("RUNNABLE", 2)):
        events = [observation(sub, status, second) for sub in subs]
        writes, outcomes = writes_of(
            store, lambda e=events: record.record_batch(store, streams, objects, e)
        )
        assert writes == ["runs.bulk", "jobs.bulk", "logs.insert"]
        assert all(o.recorded and o.moved for o in outcomes)
    assert {j["status"] for j in store.jobs.values()} == {"RUNNABLE"}


def test_submitted_events_after_the_submitter_are_one_write_of_runs(store, objects, streams):
    subs = jobs(store, objects, 10)
    events = [observation(sub, "SUBMITTED", 0) for sub in subs]
    writes, outcomes = writes_of(
        store, lambda: record.record_batch(store, streams, objects, events)
    )
    # the runs (each status's time, Batch's fields), the state lines (each already
    # written by the submitter: the earlier one kept, in one update)
    assert writes == ["runs.bulk", "logs.insert", "logs.earlier"]
    assert all(o.recorded and not o.moved for o in outcomes)


def test_terminal_events_copy_before_the_runs_move(store, objects, streams):
    subs = jobs(store, objects, 4)
    stage(objects, streams, subs)
    for status, second in (("RUNNABLE", 2), ("RUNNING", 4)):
        record.record_batch(store, streams, objects, [observation(s, status, second) for s in subs])
    done = Attempt(1, T0, T0 + timedelta(seconds=4), 0, None, "def/default/x")
    events = [observation(s, "SUCCEEDED", 5, [done], "def/default/x") for s in subs]
    writes, outcomes = writes_of(
        store, lambda: record.record_batch(store, streams, objects, events)
    )
    # an ending goes alone: only its own write tells whether it ended the job (JobsEnded)
    assert writes == ["logs.insert", *["runs.forward", "jobs.move"] * 4, "logs.insert"]
    assert [o.ended for o in outcomes] == ["SUCCEEDED"] * 4
    assert sum(o.log_lines for o in outcomes) == 4 * 2  # each job's result and line
    assert all(j["result"] is not None for j in store.jobs.values())


def test_an_ending_beside_a_duplicate_is_counted_once(store, objects, streams):
    """A duplicate in the batch sends its runs' writes down the slow path, where a bulk
    cannot say which statement moved a run; the ending is still told it ended the job."""
    subs = jobs(store, objects, 2)
    stage(objects, streams, subs)
    running = [observation(s, "RUNNING", 4) for s in subs]
    record.record_batch(store, streams, objects, running)
    done = Attempt(1, T0, T0 + timedelta(seconds=4), 0, None, "def/default/x")
    ending = [observation(s, "SUCCEEDED", 5, [done], "def/default/x") for s in subs]
    outcomes = record.record_batch(store, streams, objects, [*running, *ending])
    assert [o.ended for o in outcomes] == [None, None, "SUCCEEDED", "SUCCEEDED"]
    again = record.record_batch(store, streams, objects, [*running, *ending])
    assert [o.ended for o in again] == [None] * 4


class Refusing:
    """The store, refusing the writes that touch one run (a write error)."""

    def __init__(self, store: FakeStore, refused: str) -> None:
        self.store, self.refused = store, refused

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.store, name)

        def call(first: Any = None, *args: Any, **kwargs: Any) -> Any:
            runs = set()
            if name == "apply_observation":
                runs = {first.batch_job_id}
            elif name == "apply_observations":
                runs = {obs.batch_job_id for obs, _ in first}
            elif name == "append_logs":
                runs = {line["batch_job_id"] for line in first}
            if self.refused in runs:
                raise RuntimeError(f"write refused: {self.refused}")
            return method(*([first] if first is not None else []), *args, **kwargs)

        return call


def test_a_write_that_fails_fails_its_events_only(store, objects, streams):
    subs = jobs(store, objects, 3)
    events = [
        observation(s, status, n) for s in subs for n, status in ((1, "PENDING"), (3, "STARTING"))
    ]
    outcomes = record.record_batch(Refusing(store, subs[1].batch_job_id), streams, objects, events)
    failed = [
        e.batch_job_id for e, o in zip(events, outcomes, strict=True) if isinstance(o, Exception)
    ]
    assert failed == [subs[1].batch_job_id] * 2
    assert [store.runs[s.batch_job_id]["status"] for s in subs] == [
        "STARTING",
        "SUBMITTED",
        "STARTING",
    ]
    # delivered again, they are recorded
    again = record.record_batch(store, streams, objects, events[2:4])
    assert all(isinstance(o, record.Outcome) for o in again)
    assert store.jobs[subs[1].job_id]["status"] == "STARTING"


def test_mongodb_unreachable_fails_every_event(store, objects, streams):
    subs = jobs(store, objects, 2)

    def unreachable(what: str) -> None:
        raise StoreUnavailable("MongoDB unreachable")

    store.on_write = unreachable
    outcomes = record.record_batch(
        store, streams, objects, [observation(s, "PENDING", 1) for s in subs]
    )
    assert all(isinstance(o, StoreUnavailable) for o in outcomes)


@pytest.mark.parametrize("stop_at", range(1, 12))
def test_a_stop_at_any_write_of_a_batch_is_repaired_by_the_batch_again(stop_at):
    """The process stops before its `stop_at`-th write (each bulk write one); SQS
    delivers the whole batch again: the documents equal one event at a time."""
    reference = one_at_a_time(3)
    store, objects, streams = FakeStore(), FakeObjects(), FakeLogStreams()
    subs = jobs(store, objects, 3)
    stage(objects, streams, subs)
    events = [e for sub in subs for e in life(sub)]
    batches = [recording_order(events[i : i + 10]) for i in range(0, len(events), 10)]
    for batch in batches:
        writes = 0

        def stop(what: str) -> None:
            nonlocal writes
            writes += 1
            if writes == stop_at:
                raise Stop(what)

        store.on_write = stop
        with contextlib.suppress(Stop):  # a batch with fewer writes records whole
            record.record_batch(store, streams, objects, batch)
        store.on_write = lambda what: None
        outcomes = record.record_batch(store, streams, objects, batch)
        assert all(isinstance(o, record.Outcome) for o in outcomes)
    assert snapshot(store) == reference


def test_an_event_for_an_unknown_job_in_a_batch_writes_nothing(store, objects, streams):
    [sub] = jobs(store, objects, 1)
    stranger = RunObservation("b-x", "job-" + "0" * 32, "RUNNING", T0)
    outcomes = record.record_batch(
        store, streams, objects, [observation(sub, "PENDING", 1), stranger]
    )
    assert [o.recorded for o in outcomes] == [True, False]
    assert "b-x" not in store.runs


def test_a_run_recorded_while_its_batch_is_written_still_moves(store, objects, streams):
    """The submitter records a run between the batch's forward updates (which found no
    run) and the batch's reads: its event must still move it, not be counted done."""
    ahead, other = jobs(store, objects, 2)
    submitters_run = store.runs.pop(ahead.batch_job_id)
    bulks = 0

    def submitter_meanwhile(what: str) -> None:
        nonlocal bulks
        bulks += what == "runs.bulk"
        if bulks == 2 and ahead.batch_job_id not in store.runs:  # before the late writes
            store.runs[ahead.batch_job_id] = submitters_run

    store.on_write = submitter_meanwhile
    events = [observation(ahead, "RUNNING", 4), observation(other, "SUBMITTED", 0)]
    outcomes = record.record_batch(store, streams, objects, events)
    assert outcomes[0].moved, outcomes
    assert store.runs[ahead.batch_job_id]["status"] == "RUNNING"
    assert store.jobs[ahead.job_id]["status"] == "RUNNING"


@pytest.mark.parametrize("seed", range(10))
def test_array_batches_equal_its_events_one_at_a_time(seed):
    """An array's children and parent in batches of ten (shuffled, duplicated, ordered
    as the handler orders them): the same documents as one event at a time, in order;
    the children's endings recounted once per batch."""
    results = []
    for together in (False, True):
        store, objects, streams = FakeStore(), FakeObjects(), FakeLogStreams()
        req = validate_job_request(
            {"task": "echo", "items": [{"message": str(i)} for i in range(3)]}
        )
        sub = post(store, FakeBatch(), objects, req)
        for i in range(3):
            streams.streams[f"s/{i}"] = [LogLine(T0, f"child {i} says hello")]
            objects.put_text(result_key(sub.job_id, f"{sub.batch_job_id}:{i}"), '{"i": 1}')
        events = array_history(sub)
        if not together:
            for event in events:
                record.record_observation(store, streams, objects, event)
        else:
            events = events + random.Random(seed).sample(events, 5)
            random.Random(seed).shuffle(events)
            for start in range(0, len(events), 10):
                chunk = recording_order(events[start : start + 10])
                outcomes = record.record_batch(store, streams, objects, chunk)
                assert all(isinstance(o, record.Outcome) for o in outcomes), outcomes
        results.append(snapshot(store))
    assert results[0] == results[1]
    assert next(iter(results[1][0].values()))["status"] == "FAILED"
