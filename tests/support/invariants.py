"""Invariants of a stack's database once it has settled (issue 23), read from its
documents only — the `jobs`, `runs` and `logs` collections as schema.py lays them out.

    python -m tests.support.invariants MONGODB_URI DB_NAME [--settle 120]

(e.g. after `make dev` with chaos: `set -a; . .overlord/dev.env; set +a;
.venv/bin/python -m tests.support.invariants "$MONGODB_URI" "$DB_NAME"`). The e2e suite
runs it on each stack it started once its tests are done (tests/e2e/conftest.py).

Checked, per job:
- the job has settled: no status in flight (a job stuck in flight is reported);
- every run but an array's children has its number; numbers are unique within a job;
- `latest_run` points at an existing run of the job, with the same number;
- the job's status is its latest run's status, as is `latest_run.status`;
- an array's parent counts its children's ends (`array.ended`) as the children say, and
  the job has ended only when the parent and every child have;
- no SUBMIT_FAILED job has a run (Batch ran it after all);
- no log line twice: one per (run, attempt, kind, seq), and one state line per status;
- every ended run has its terminal state line.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from typing import Any

from pymongo import MongoClient
from pymongo.database import Database

TERMINAL = {"SUCCEEDED", "FAILED"}
IN_FLIGHT = {"SUBMITTING", "SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"}


# A job a test leaves running on purpose when it stops its stack (test_flow's
# test_stopping_leaves_no_process): nothing is left to end it, so it is not "stuck".
LEFT_RUNNING = {"e2e": "left-running"}


def in_flight(db: Database) -> list[str]:
    query: dict[str, Any] = {"status": {"$in": sorted(IN_FLIGHT)}}
    query |= {f"tags.{key}": {"$ne": value} for key, value in LEFT_RUNNING.items()}
    return [j["_id"] for j in db.jobs.find(query, {"_id": 1})]


def wait_settled(db: Database, timeout: float) -> list[str]:
    """Wait up to `timeout` s for no job to be in flight; the ones still are returned."""
    deadline = time.monotonic() + timeout
    while True:
        left = in_flight(db)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


def check(db: Database, settle: float = 120.0) -> list[str]:
    """Every violation found, one line each (empty: the invariants hold)."""
    problems = [
        f"job {job_id}: still in flight after {settle:g} s" for job_id in wait_settled(db, settle)
    ]
    runs_by_job: dict[str, list[dict[str, Any]]] = defaultdict(list)
    children: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in db.runs.find({}, {"status_history": 0, "attempts": 0, "result": 0}):
        if run.get("parent"):
            children[run["parent"]].append(run)
        else:
            runs_by_job[run["job_id"]].append(run)
    for job in db.jobs.find({}, {"parameters": 0, "tags": 0, "result": 0}):
        problems += _job(job, runs_by_job.get(job["_id"], []), children)
    problems += _logs(db, runs_by_job, children)
    return problems


def _job(
    job: dict[str, Any], runs: list[dict[str, Any]], children: dict[str, list[dict[str, Any]]]
) -> list[str]:
    job_id, status = job["_id"], job["status"]
    problems = []
    numbers = Counter(r.get("run") for r in runs)
    for run in runs:
        if not isinstance(run.get("run"), int):
            problems.append(f"job {job_id}: run {run['_id']} has no number")
    problems += [
        f"job {job_id}: run number {n} used {count} times"
        for n, count in numbers.items()
        if n is not None and count > 1
    ]
    pointer = job.get("latest_run")
    if pointer is None:
        if status == "SUBMIT_FAILED" and runs:
            problems.append(f"job {job_id}: SUBMIT_FAILED although Batch ran {runs[0]['_id']}")
        elif status not in {"SUBMITTING", "SUBMIT_FAILED"}:
            problems.append(f"job {job_id}: {status} without a latest run")
        return problems
    by_id = {r["_id"]: r for r in runs}
    latest = by_id.get(pointer["batch_job_id"])
    if latest is None:
        return [*problems, f"job {job_id}: latest_run {pointer['batch_job_id']} does not exist"]
    if latest.get("run") != pointer.get("run"):
        problems.append(
            f"job {job_id}: latest_run says run {pointer.get('run')}, "
            f"its document says {latest.get('run')}"
        )
    # A re-run being submitted, or refused, leaves the pointer on the previous run.
    rerun_pending = status in {"SUBMITTING", "SUBMIT_FAILED"}
    if not rerun_pending and not (status == pointer.get("status") == latest.get("status")):
        problems.append(
            f"job {job_id}: status {status}, latest_run.status {pointer.get('status')}, "
            f"run {latest['_id']} {latest.get('status')}"
        )
    for run in runs:
        if "array" in run:
            problems += _array(job_id, status if run is latest else None, run, children)
    return problems


def _array(
    job_id: str,
    job_status: str | None,
    parent: dict[str, Any],
    children: dict[str, list[dict[str, Any]]],
) -> list[str]:
    array = parent["array"]
    kids = children.get(parent["_id"], [])
    ended = sum(1 for c in kids if c.get("status") in TERMINAL)
    problems = []
    if "ended" in array and array["ended"] != ended:
        problems.append(
            f"job {job_id}: array {parent['_id']} counts {array['ended']} ended children, "
            f"{ended} have ended"
        )
    indices = Counter(c.get("index") for c in kids)
    problems += [
        f"job {job_id}: child index {i} of {parent['_id']} recorded {n} times"
        for i, n in indices.items()
        if n > 1
    ]
    if job_status in TERMINAL and (parent.get("status") not in TERMINAL or ended < array["size"]):
        problems.append(
            f"job {job_id}: {job_status} while its array {parent['_id']} is "
            f"{parent.get('status')} with {ended} of {array['size']} children ended"
        )
    if parent.get("status") in TERMINAL and job_status is not None and ended < array["size"]:
        problems.append(
            f"job {job_id}: array {parent['_id']} ended with {ended} of {array['size']} "
            "children's ends recorded"
        )
    return problems


def _logs(
    db: Database,
    runs_by_job: dict[str, list[dict[str, Any]]],
    children: dict[str, list[dict[str, Any]]],
) -> list[str]:
    problems = []
    identity: Counter[tuple[Any, ...]] = Counter()
    states: Counter[tuple[str, str]] = Counter()
    fields = {"batch_job_id": 1, "attempt": 1, "kind": 1, "seq": 1, "status": 1}
    for line in db.logs.find({}, fields):
        identity[(line["batch_job_id"], line["attempt"], line["kind"], line["seq"])] += 1
        if line["kind"] == "state":
            states[(line["batch_job_id"], line.get("status", "?"))] += 1
    problems += [f"log line {key} stored {n} times" for key, n in identity.items() if n > 1]
    problems += [
        f"run {run_id}: state line {status} stored {n} times"
        for (run_id, status), n in states.items()
        if n > 1
    ]
    all_runs = [r for runs in runs_by_job.values() for r in runs]
    all_runs += [c for kids in children.values() for c in kids]
    for run in all_runs:
        if run.get("status") in TERMINAL and not states[(run["_id"], run["status"])]:
            problems.append(f"run {run['_id']}: {run['status']} without its state line")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.invariants")
    parser.add_argument("uri", help="the stack's MONGODB_URI")
    parser.add_argument("db", help="its DB_NAME")
    parser.add_argument("--settle", type=float, default=120.0, help="seconds to wait for jobs")
    args = parser.parse_args(argv)
    client: MongoClient[dict[str, Any]] = MongoClient(args.uri)
    try:
        problems = check(client[args.db], args.settle)
    finally:
        client.close()
    for problem in problems:
        print(problem)
    print(f"invariants: {len(problems)} violation(s)" if problems else "invariants hold")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
