"""The shape of every document in `jobs`, `runs` and `logs` (DESIGN §3), in one place."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from overlord.fieldnames import escape_document
from overlord.request import JobRequest
from overlord.status import JobStatus, RunStatus, rank

JOBS = "jobs"
RUNS = "runs"
LOGS = "logs"


class LogKind:
    SUBMISSION = "submission"
    STATE = "state"
    LOG = "log"
    RESULT = "result"


def new_job(request: JobRequest, now: datetime) -> dict[str, Any]:
    return {
        "_id": request.job_id,
        "task": request.task,
        "parameters": escape_document(request.parameters),
        "key": request.key,
        "tags": escape_document(request.tags),
        "attempts": request.attempts,
        "timeout_seconds": request.timeout_seconds,
        "status": JobStatus.SUBMITTING.value,
        "status_reason": None,
        "created_at": now,
        "updated_at": now,
        "run_count": 0,
        "latest_run": None,
        "result": None,
    }


def new_run(
    *,
    batch_job_id: str,
    job_id: str,
    run_number: int | None,
    at: datetime,
    job_queue: str | None = None,
    job_definition: str | None = None,
) -> dict[str, Any]:
    """A run before any status is applied; `status_rank` 0 lets the first status move it."""
    return {
        "_id": batch_job_id,
        "job_id": job_id,
        "run": run_number,
        "status": None,
        "status_rank": 0,
        "status_reason": None,
        "status_history": {},
        "attempts": [],
        "attempts_rank": 0,
        "job_queue": job_queue,
        "job_definition": job_definition,
        "created_at": at,
        "started_at": None,
        "stopped_at": None,
        "updated_at": at,
        "result_uri": None,
        "result": None,
        "logs_copied": False,
    }


def latest_run(batch_job_id: str, run_number: int | None, status: str) -> dict[str, Any]:
    return {
        "run_id": batch_job_id,
        "batch_job_id": batch_job_id,
        "run": run_number,
        "status": status,
        "status_rank": rank(status),
    }


def log_record(
    *,
    job_id: str,
    batch_job_id: str,
    attempt: int,
    kind: str,
    seq: int,
    ts: datetime,
    message: str,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "batch_job_id": batch_job_id,
        "attempt": attempt,
        "kind": kind,
        "seq": seq,
        "ts": ts,
        "message": message,
        **extra,
    }


def state_record(job_id: str, batch_job_id: str, status: str, at: datetime, reason: str | None):
    """One `state` line per status a run reached; its seq is the status rank, so it is unique."""
    message = status if not reason else f"{status}: {reason}"
    seq = rank(status) if status != RunStatus.FAILED else rank(status) + 1
    return log_record(
        job_id=job_id,
        batch_job_id=batch_job_id,
        attempt=0,
        kind=LogKind.STATE,
        seq=seq,
        ts=at,
        message=message,
        status=status,
    )
