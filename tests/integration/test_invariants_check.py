"""tests/support/invariants.py finds each broken invariant it names, on a real database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support import invariants

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def job(job_id: str, status: str, latest: dict[str, Any] | None) -> dict[str, Any]:
    return {"_id": job_id, "task": "echo", "status": status, "latest_run": latest}


def run(batch_job_id: str, job_id: str, number: int | None, status: str, **extra: Any) -> Any:
    return {"_id": batch_job_id, "job_id": job_id, "run": number, "status": status, **extra}


def pointer(batch_job_id: str, number: int, status: str) -> dict[str, Any]:
    return {"batch_job_id": batch_job_id, "run": number, "status": status}


def state(batch_job_id: str, status: str, seq: int) -> dict[str, Any]:
    return {
        "_id": f"{batch_job_id}:state:{seq}",
        "job_id": "j",
        "batch_job_id": batch_job_id,
        "attempt": 0,
        "kind": "state",
        "seq": seq,
        "status": status,
        "ts": NOW,
        "message": status,
    }


def healthy(db: Any) -> None:
    db.jobs.insert_many(
        [
            job("job-ok", "SUCCEEDED", pointer("b1", 1, "SUCCEEDED")),
            job("job-arr", "SUCCEEDED", pointer("p1", 1, "SUCCEEDED")),
        ]
    )
    db.runs.insert_many(
        [
            run("b1", "job-ok", 1, "SUCCEEDED"),
            run("p1", "job-arr", 1, "SUCCEEDED", array={"size": 2, "ended": 2}),
            run("p1:0", "job-arr", None, "SUCCEEDED", parent="p1", index=0),
            run("p1:1", "job-arr", None, "FAILED", parent="p1", index=1),
        ]
    )
    db.logs.insert_many(
        [
            state("b1", "SUCCEEDED", 6),
            state("p1", "SUCCEEDED", 6),
            state("p1:0", "SUCCEEDED", 6),
            state("p1:1", "FAILED", 7),
        ]
    )


def test_a_healthy_database_passes(db: Any) -> None:
    healthy(db)
    assert invariants.check(db, settle=0) == []


@pytest.mark.parametrize(
    ("breaks", "expected"),
    [
        (lambda db: db.runs.update_one({"_id": "b1"}, {"$set": {"run": None}}), "no number"),
        (
            lambda db: db.jobs.update_one(
                {"_id": "job-ok"}, {"$set": {"latest_run.batch_job_id": "gone"}}
            ),
            "does not exist",
        ),
        (
            lambda db: db.jobs.update_one({"_id": "job-ok"}, {"$set": {"status": "RUNNING"}}),
            "job job-ok: status RUNNING",
        ),
        (
            lambda db: db.runs.update_one({"_id": "p1"}, {"$set": {"array.ended": 1}}),
            "counts 1 ended children, 2 have ended",
        ),
        (
            lambda db: db.runs.update_one({"_id": "p1:1"}, {"$set": {"status": "RUNNING"}}),
            "SUCCEEDED while its array p1 is SUCCEEDED with 1 of 2",
        ),
        (
            lambda db: db.jobs.update_one(
                {"_id": "job-ok"}, {"$set": {"status": "RUNNABLE", "latest_run.status": "RUNNABLE"}}
            ),
            "still in flight",
        ),
        (
            lambda db: (
                db.jobs.insert_one(job("job-lost", "SUBMIT_FAILED", None))
                and db.runs.insert_one(run("b9", "job-lost", None, "SUCCEEDED"))
            ),
            "SUBMIT_FAILED although Batch ran b9",
        ),
        (lambda db: db.logs.delete_one({"_id": "b1:state:6"}), "without its state line"),
        (
            lambda db: db.logs.insert_one({**state("b1", "SUCCEEDED", 6), "_id": "b1:again"}),
            "stored 2 times",
        ),
        (
            lambda db: db.runs.insert_one(run("b2", "job-ok", 1, "FAILED")),
            "run number 1 used 2 times",
        ),
    ],
)
def test_each_broken_invariant_is_reported(db: Any, breaks: Any, expected: str) -> None:
    healthy(db)
    breaks(db)
    problems = invariants.check(db, settle=0)
    assert any(expected in p for p in problems), problems
