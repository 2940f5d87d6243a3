"""The MongoDB adapter against a real wire-protocol server."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from overlord.adapters.mongo_store import MongoStore
from overlord.domain import schema
from overlord.domain.observation import Attempt, RunObservation
from overlord.domain.request import validate_job_request
from overlord.ports import LogFilter, TerminalCopy

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


LEASE = timedelta(seconds=60)


def new_job(**params):
    request = validate_job_request({"task": "echo", "parameters": params})
    return schema.new_job(request, NOW)


def submitted_run(job_id, batch_job_id="b-1", run_number=1):
    doc = schema.new_run(batch_job_id=batch_job_id, job_id=job_id, run_number=run_number, at=NOW)
    doc["status"], doc["status_rank"], doc["status_history"] = "SUBMITTED", 1, {"SUBMITTED": NOW}
    return doc


def obs(job_id, status, step, attempts=()):
    return RunObservation(
        batch_job_id="b-1",
        job_id=job_id,
        status=status,
        observed_at=NOW + timedelta(seconds=step),
        attempts=tuple(attempts),
    )


def test_indexes_are_created_idempotently(db):
    store = MongoStore(db)
    store.ensure_indexes()
    MongoStore(db).ensure_indexes()
    names = {ix["name"] for ix in db.logs.list_indexes()}
    assert "line_identity" in names
    unique = next(ix for ix in db.logs.list_indexes() if ix["name"] == "line_identity")
    assert unique.get("unique") is True


def test_claim_is_exclusive_under_concurrency(db):
    store = MongoStore(db)
    store.ensure_indexes()
    job = new_job(message="hi")
    results: list[bool] = []
    barrier = threading.Barrier(10)

    def claim():
        barrier.wait()
        owner = threading.current_thread().name
        results.append(store.claim_job(dict(job), owner, NOW, LEASE).claimed)

    threads = [threading.Thread(target=claim) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1
    assert db.jobs.count_documents({}) == 1


def test_failed_submission_can_be_claimed_again_once(db):
    store = MongoStore(db)
    job = new_job(message="hi")
    assert store.claim_job(dict(job), "a", NOW, LEASE).claimed
    store.mark_submit_failed(job["_id"], "Batch said no", NOW)
    assert store.get_job(job["_id"])["status"] == "SUBMIT_FAILED"
    again = store.claim_job(dict(job), "b", NOW, LEASE)
    assert again.claimed and again.taken_over
    assert store.claim_job(dict(job), "c", NOW, LEASE).claimed is False


def test_a_held_claim_outlives_its_lease_and_only_its_owner_holds_it(db):
    """After a lost SubmitJob answer the submitter holds its claim until ListJobs would
    list the job: nobody takes the job over before then."""
    store = MongoStore(db)
    job = new_job(message="held")
    assert store.claim_job(dict(job), "a", NOW, LEASE).claimed
    store.hold_claim(job["_id"], "someone-else", NOW + LEASE * 9, "not mine", NOW)
    assert store.get_job(job["_id"])["claim"]["expires_at"] == NOW + LEASE
    store.hold_claim(job["_id"], "a", NOW + LEASE * 3, "Batch failed: read timeout", NOW)
    held = store.get_job(job["_id"])
    assert held["status"] == "SUBMITTING" and held["status_reason"] == "Batch failed: read timeout"
    assert held["claim"] == {"owner": "a", "expires_at": NOW + LEASE * 3}
    assert held["submit_failures"] == 1
    assert not store.claim_job(dict(job), "b", NOW + LEASE * 2, LEASE).claimed
    taken = store.claim_job(dict(job), "b", NOW + LEASE * 4, LEASE)
    assert taken.claimed and taken.taken_over
    assert store.get_job(job["_id"])["status_reason"] is None


def test_a_lapsed_claim_is_taken_over_and_a_live_one_is_not(db):
    store = MongoStore(db)
    job = new_job(message="lease")
    assert store.claim_job(dict(job), "dead", NOW, LEASE).claimed
    assert not store.claim_job(dict(job), "other", NOW + LEASE / 2, LEASE).claimed
    taken = store.claim_job(dict(job), "other", NOW + LEASE * 2, LEASE)
    assert taken.claimed and taken.taken_over and taken.job["status"] == "SUBMITTING"
    assert store.get_job(job["_id"])["claim"]["owner"] == "other"


def test_a_submitting_job_without_a_claim_is_taken_over(db):
    """Nobody holds it (a job written without one): reconcile and a client's retry may
    take it, as FakeStore lets them."""
    store = MongoStore(db)
    job = new_job(message="no claim")
    db.jobs.insert_one(dict(job))
    taken = store.claim_job(dict(job), "reconcile", NOW, LEASE)
    assert taken.claimed and taken.taken_over
    assert db.jobs.find_one({"_id": job["_id"]})["claim"]["owner"] == "reconcile"


def test_a_claim_whose_answer_was_lost_is_still_ours(db):
    store = MongoStore(db)
    job = new_job(message="retried insert")
    assert store.claim_job(dict(job), "me", NOW, LEASE).claimed
    assert store.claim_job(dict(job), "me", NOW, LEASE).claimed


def test_parameters_with_operator_like_keys_round_trip(db):
    store = MongoStore(db)
    job = new_job(**{"$where": "1", "a.b": {"$gt": 1}})
    store.claim_job(job, "o", NOW, LEASE)
    stored = db.jobs.find_one({"_id": job["_id"]})
    assert stored["parameters"] == {"%24where": "1", "a%2Eb": {"%24gt": 1}}
    assert db.jobs.count_documents({"parameters.a%2Eb.%24gt": 1}) == 1


def test_status_never_moves_backwards_and_history_is_kept(db):
    store = MongoStore(db)
    job = new_job(message="hi")
    store.claim_job(job, "o", NOW, LEASE)
    store.record_submitted_run(submitted_run(job["_id"]), NOW)
    assert store.apply_observation(obs(job["_id"], "RUNNING", 5), NOW).moved
    done = [Attempt(1, NOW, NOW, 0, None, "s/default/b-1")]
    assert store.apply_observation(obs(job["_id"], "SUCCEEDED", 9, done), NOW).moved
    late = store.apply_observation(obs(job["_id"], "RUNNING", 5), NOW)
    assert late.known and not late.moved
    contradicting = store.apply_observation(obs(job["_id"], "FAILED", 10), NOW)
    assert not contradicting.moved and contradicting.reached_at is None
    run = store.get_run("b-1")
    assert run["status"] == "SUCCEEDED"
    assert set(run["status_history"]) == {"SUBMITTED", "RUNNING", "SUCCEEDED"}
    assert run["attempts"][0]["exit_code"] == 0
    stored_job = store.get_job(job["_id"])
    assert stored_job["status"] == "SUCCEEDED"
    assert stored_job["latest_run"]["status"] == "SUCCEEDED"
    assert stored_job["run_count"] == 1


def test_log_append_ignores_duplicates(db):
    store = MongoStore(db)
    lines = [
        schema.log_record(
            job_id="j", batch_job_id="b", attempt=1, kind="log", seq=i, ts=NOW, message=f"line {i}"
        )
        for i in range(5)
    ]
    assert store.append_logs(lines[:3]) == 3
    assert store.append_logs(lines) == 2
    assert db.logs.count_documents({}) == 5
    listed = store.list_logs("b", LogFilter(), None, 100)
    assert [x["message"] for x in listed] == [f"line {i}" for i in range(5)]


def test_new_run_only_after_the_last_finished(db):
    store = MongoStore(db)
    job = new_job(message="hi")
    store.claim_job(job, "o", NOW, LEASE)
    store.record_submitted_run(submitted_run(job["_id"]), NOW)
    assert store.claim_new_run(job["_id"], "o", NOW, LEASE) is None
    store.apply_observation(obs(job["_id"], "FAILED", 3), NOW)
    assert store.claim_new_run(job["_id"], "o", NOW, LEASE)["status"] == "FAILED"
    assert store.get_job(job["_id"])["status"] == "SUBMITTING"
    assert store.claim_new_run(job["_id"], "o", NOW, LEASE) is None


def test_an_event_ahead_of_the_submitter_is_kept_and_numbered(db):
    store = MongoStore(db)
    job = new_job(message="race")
    store.claim_job(job, "o", NOW, LEASE)
    assert store.apply_observation(obs(job["_id"], "RUNNABLE", 3), NOW).moved
    assert store.get_run("b-1")["run"] is None
    store.record_submitted_run(submitted_run(job["_id"]), NOW)
    run = store.get_run("b-1")
    assert run["run"] == 1 and run["status"] == "RUNNABLE"
    stored = store.get_job(job["_id"])
    assert stored["status"] == "RUNNABLE" and stored["latest_run"]["status"] == "RUNNABLE"


def test_an_event_for_an_unknown_job_writes_nothing(db):
    store = MongoStore(db)
    assert store.apply_observation(obs("job-" + "0" * 32, "RUNNING", 1), NOW).known is False
    assert db.runs.count_documents({}) == 0


def test_a_rerun_clears_the_previous_result(db):
    store = MongoStore(db)
    job = new_job(message="rerun")
    store.claim_job(job, "o", NOW, LEASE)
    store.record_submitted_run(submitted_run(job["_id"]), NOW)
    result = {"uri": "s3://b/k", "size": 2, "summary": {}}
    copy = TerminalCopy(result=result, logs_copied=True)
    store.apply_observation(obs(job["_id"], "SUCCEEDED", 3), NOW, copy)
    assert store.get_job(job["_id"])["result"] == result
    store.claim_new_run(job["_id"], "o", NOW, LEASE)
    store.record_submitted_run(submitted_run(job["_id"], "b-2", run_number=2), NOW)
    assert store.get_job(job["_id"])["result"] is None
    assert store.get_run("b-1")["result"] == result


def test_ended_runs_are_unsettled_until_marked(db):
    store = MongoStore(db)
    store.ensure_indexes()
    job = new_job(message="settle")
    store.claim_job(job, "o", NOW, LEASE)
    store.record_submitted_run(submitted_run(job["_id"]), NOW)
    assert store.unsettled_runs(10) == []  # still running
    store.apply_observation(obs(job["_id"], "SUCCEEDED", 3), NOW)
    assert [r["_id"] for r in store.unsettled_runs(10)] == ["b-1"]
    store.mark_logs_settled(["b-1"])
    assert store.unsettled_runs(10) == []


def _all_at_once(calls, threads=8):
    """Run the calls from `threads` threads that start together; returns their results."""
    barrier = threading.Barrier(threads)
    results: list = []
    lock = threading.Lock()

    def work(mine):
        barrier.wait()
        for call in mine:
            value = call()
            with lock:
                results.append(value)

    workers = [threading.Thread(target=work, args=(calls[i::threads],)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return results


def test_set_replaces_a_document_by_one_with_other_keys_and_the_same_values(db):
    """What `array.status_summary` rests on: `$set` of a field to a document replaces
    the document there. (FerretDB 1.24 as released took {PENDING: 3} and {FAILED: 3} to
    be identical, comparing values only, and kept the old one: an array run kept Batch's
    earlier summary. local/ferretdb/patches/0005 fixes our build.)"""
    db.summaries.insert_one({"_id": "run", "array": {"summary": {"PENDING": 3}}, "top": {"A": 1}})
    db.summaries.update_one({"_id": "run"}, {"$set": {"array.summary": {"FAILED": 3}}})
    db.summaries.update_one({"_id": "run"}, {"$set": {"top": {"B": 1}}})
    found = db.summaries.find_one({"_id": "run"})
    assert found["array"] == {"summary": {"FAILED": 3}} and found["top"] == {"B": 1}


def test_concurrent_writes_to_one_document_are_all_applied(db):
    """What every conditional update of the store rests on: MongoDB applies each write to
    a document atomically, so concurrent writes to one document neither undo one another
    nor apply on a condition that another write has just made false. (FerretDB 1.24 as
    released reads, changes and rewrites the whole document without a lock: about half
    of these updates were lost. local/ferretdb/patches fixes our build.)"""
    db.race.insert_one({"_id": "doc", "n": 0, "fields": {}, "rank": 0})
    calls = [
        lambda i=i: (
            db.race.update_one({"_id": "doc"}, {"$inc": {"n": 1}}),
            db.race.update_one({"_id": "doc", "n": {"$gte": 0}}, {"$set": {f"fields.f{i}": i}}),
            # A status-like value that only moves forward: each rank applies at most once.
            db.race.update_one(
                {"_id": "doc", "rank": {"$lt": i % 20}}, {"$set": {"rank": i % 20}}
            ).modified_count,
        )
        for i in range(200)
    ]
    results = _all_at_once(calls)
    doc = db.race.find_one({"_id": "doc"})
    assert doc["n"] == 200
    assert doc["fields"] == {f"f{i}": i for i in range(200)}
    assert doc["rank"] == 19
    assert sum(moved for _, _, moved in results) <= 19


def test_one_of_many_concurrent_requests_takes_over_a_failed_submission(db):
    store = MongoStore(db)
    for n in range(10):
        job = new_job(message=f"retried {n}")
        assert store.claim_job(dict(job), "first", NOW, LEASE).claimed
        store.mark_submit_failed(job["_id"], "Batch said no", NOW)
        claims = _all_at_once(
            [
                lambda i=i, j=job: store.claim_job(dict(j), f"retry-{i}", NOW, LEASE)
                for i in range(8)
            ]
        )
        winners = [c for c in claims if c.claimed]
        assert len(winners) == 1, (n, winners)
        owner = store.get_job(job["_id"])["claim"]["owner"]
        assert [w.taken_over for w in winners] == [True] and owner.startswith("retry-")


def test_a_run_adopted_while_its_events_arrive_keeps_its_number(db):
    """The xfail of test_submit_faults, at the store: an event created the run (no number)
    before the submission was recorded; the client's retry adopts it while the run's other
    events are applied. The run must end numbered 1, and the job pointing at it with the
    run's status."""
    store = MongoStore(db)
    store.ensure_indexes()
    for n in range(12):
        job = new_job(message=f"adopted {n}")
        batch_job_id = f"b-{n}"
        store.claim_job(dict(job), "o", NOW, LEASE)
        early = RunObservation(
            batch_job_id=batch_job_id, job_id=job["_id"], status="SUBMITTED", observed_at=NOW
        )
        assert store.apply_observation(early, NOW).moved
        later = [
            RunObservation(
                batch_job_id=batch_job_id,
                job_id=job["_id"],
                status=status,
                observed_at=NOW + timedelta(seconds=step),
            )
            for step, status in enumerate(["PENDING", "RUNNABLE", "STARTING", "RUNNING"], 1)
        ]
        submission = submitted_run(job["_id"], batch_job_id)
        calls = [lambda o=o: store.apply_observation(o, NOW) for o in later] + [
            lambda r=submission: store.record_submitted_run(r, NOW)
        ]
        _all_at_once(calls, threads=len(calls))
        run = store.get_run(batch_job_id)
        stored = store.get_job(job["_id"])
        assert run["run"] == 1, (n, run)
        assert run["status"] == "RUNNING" and stored["status"] == "RUNNING", (n, run, stored)
        assert stored["latest_run"] == schema.latest_run(batch_job_id, 1, "RUNNING")


class _CreatedMeanwhile:
    """A store's `runs` collection whose first `find_one` is preceded by `create()`: another
    writer creates the run after the forward update found none and before the read that
    follows it (seen under load: the submitter's insert, or another event's)."""

    def __init__(self, runs, create):
        self._runs, self._create = runs, create

    def find_one(self, *args, **kwargs):
        if self._create is not None:
            create, self._create = self._create, None
            create()
        return self._runs.find_one(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._runs, name)


@pytest.mark.parametrize("creator", ["submitter", "another event"])
@pytest.mark.parametrize("status", ["RUNNABLE", "SUCCEEDED"])
def test_an_event_still_moves_a_run_created_while_it_was_applied(db, creator, status):
    store, other = MongoStore(db), MongoStore(db)
    job = new_job(message=f"{creator} {status}")
    store.claim_job(job, "o", NOW, LEASE)
    if creator == "submitter":
        create = lambda: other.record_submitted_run(submitted_run(job["_id"]), NOW)  # noqa: E731
    else:
        create = lambda: other.apply_observation(obs(job["_id"], "SUBMITTED", 0), NOW)  # noqa: E731
    store.runs = _CreatedMeanwhile(store.runs, create)
    result = {"uri": "s3://b/k", "size": 2, "summary": {}}
    copy = TerminalCopy(result=result, logs_copied=True) if status == "SUCCEEDED" else None

    applied = store.apply_observation(obs(job["_id"], status, 3), NOW, copy)

    run = other.get_run("b-1")
    assert applied.moved and run["status"] == status, run
    if creator == "submitter":
        assert other.get_job(job["_id"])["status"] == status
    if copy is not None:
        assert run["result"] == result and run["logs_copied"] is True


def test_children_are_counted_by_status_as_they_read(db):
    """count_children (one `count` per status; FerretDB answers them in SQL, patch 0006)
    agrees with reading the children, and `children(parent, status)` reads only those."""
    store = MongoStore(db)
    store.ensure_indexes()
    statuses = ["SUCCEEDED", "FAILED", "RUNNING", "SUCCEEDED", "FAILED", "PENDING", "SUCCEEDED"]
    children = []
    for index, status in enumerate(statuses):
        child = schema.new_run(batch_job_id=f"p-1:{index}", job_id="j", run_number=None, at=NOW)
        child.update(status=status, parent="p-1", index=index)  # type: ignore[typeddict-item]
        children.append(child)
    other = schema.new_run(batch_job_id="p-2:0", job_id="j", run_number=None, at=NOW)
    other.update(status="FAILED", parent="p-2", index=0)  # type: ignore[typeddict-item]
    db.runs.insert_many([*children, other])

    read = store.children("p-1")
    assert [c.index for c in read] == list(range(len(statuses)))
    counted: dict[str, int] = {}
    for c in read:
        counted[c.status] = counted.get(c.status, 0) + 1
    assert (
        store.count_children("p-1")
        == counted
        == {
            "SUCCEEDED": 3,
            "FAILED": 2,
            "RUNNING": 1,
            "PENDING": 1,
        }
    )
    assert [c.index for c in store.children("p-1", "FAILED")] == [1, 4]
    assert store.count_children("p-3") == {}
