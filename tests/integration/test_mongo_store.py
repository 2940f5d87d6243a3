"""The MongoDB adapter against a real wire-protocol server."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from overlord import records
from overlord.adapters.mongo_store import MongoStore
from overlord.observation import Attempt, RunObservation
from overlord.request import validate_job_request

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def new_job(**params):
    request = validate_job_request({"task": "echo", "parameters": params})
    return records.new_job(request, NOW)


def obs(job_id, status, step, attempts=()):
    return RunObservation(
        batch_job_id="b-1",
        job_name=job_id,
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
        results.append(store.claim_job(dict(job), NOW)[1])

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
    assert store.claim_job(dict(job), NOW)[1]
    store.mark_submit_failed(job["_id"], "Batch said no", NOW)
    assert store.get_job(job["_id"])["status"] == "SUBMIT_FAILED"
    assert store.claim_job(dict(job), NOW)[1] is True
    assert store.claim_job(dict(job), NOW)[1] is False


def test_parameters_with_operator_like_keys_round_trip(db):
    store = MongoStore(db)
    job = new_job(**{"$where": "1", "a.b": {"$gt": 1}})
    store.claim_job(job, NOW)
    stored = db.jobs.find_one({"_id": job["_id"]})
    assert stored["parameters"] == {"%24where": "1", "a%2Eb": {"%24gt": 1}}
    assert db.jobs.count_documents({"parameters.a%2Eb.%24gt": 1}) == 1


def test_status_never_moves_backwards_and_history_is_kept(db):
    store = MongoStore(db)
    job = new_job(message="hi")
    store.claim_job(job, NOW)
    store.start_run(obs(job["_id"], "SUBMITTED", 0), 1, NOW)
    assert store.apply_observation(obs(job["_id"], "RUNNING", 5), NOW)
    done = [Attempt(1, NOW, NOW, 0, None, "s/default/b-1")]
    assert store.apply_observation(obs(job["_id"], "SUCCEEDED", 9, done), NOW)
    assert not store.apply_observation(obs(job["_id"], "RUNNING", 5), NOW)
    assert not store.apply_observation(obs(job["_id"], "FAILED", 10), NOW)
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
        records.log_record(
            job_id="j", batch_job_id="b", attempt=1, kind="log", seq=i, ts=NOW, message=f"line {i}"
        )
        for i in range(5)
    ]
    assert store.append_logs(lines[:3]) == 3
    assert store.append_logs(lines) == 2
    assert db.logs.count_documents({}) == 5
    assert [x["message"] for x in store.list_logs("j")] == [f"line {i}" for i in range(5)]


def test_new_run_only_after_the_last_finished(db):
    store = MongoStore(db)
    job = new_job(message="hi")
    store.claim_job(job, NOW)
    store.start_run(obs(job["_id"], "SUBMITTED", 0), 1, NOW)
    assert store.claim_new_run(job["_id"], NOW) is None
    store.apply_observation(obs(job["_id"], "FAILED", 3), NOW)
    assert store.claim_new_run(job["_id"], NOW)["status"] == "FAILED"
    assert store.get_job(job["_id"])["status"] == "SUBMITTING"
    assert store.claim_new_run(job["_id"], NOW) is None
