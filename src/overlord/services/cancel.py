"""Cancelling a job's run: CancelJob before it starts, TerminateJob once it has.

Only asks; the run's final state (FAILED, with Batch's reason) arrives through Batch's
events like any other, so the recorder stays the one writer of statuses.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from overlord.domain.clock import utcnow
from overlord.domain.errors import JobNotFound, NoActiveRun
from overlord.domain.schema import CancelRequest
from overlord.domain.status import SUBMITTING, TERMINAL, RunStatus
from overlord.ports import Batch, Store

logger = logging.getLogger(__name__)

# AWS Batch: CancelJob leaves a job that reached STARTING alone (and still answers 200).
STARTED = frozenset({RunStatus.STARTING.value, RunStatus.RUNNING.value})
CANCEL, TERMINATE = "CancelJob", "TerminateJob"


@dataclass(frozen=True)
class Cancelled:
    job_id: str
    batch_job_id: str
    run_number: int
    action: str
    reason: str


def cancel_job(
    store: Store, batch: Batch, job_id: str, reason: str | None, caller: str | None
) -> Cancelled:
    job = store.get_job(job_id)
    if job is None:
        raise JobNotFound(job_id)
    latest = job["latest_run"]
    if job["status"] == SUBMITTING:
        raise NoActiveRun(f"job {job_id} is being submitted; ask again in a moment")
    if latest is None or job["status"] in TERMINAL or latest["status"] in TERMINAL:
        raise NoActiveRun(f"job {job_id} is {job['status']}: no run is active")
    batch_job_id = latest["batch_job_id"]
    why = reason or f"cancelled by {caller or 'an unauthenticated caller'}"
    status = _batch_status(batch, batch_job_id) or latest["status"]
    if status in TERMINAL:
        raise NoActiveRun(f"job {job_id}: run {latest['run']} has already ended ({status})")
    # Recorded before Batch is asked, so that the events the call sets off find it (and
    # no write of ours races the recorder's); taken back if Batch says no. An array's
    # parent never starts, but its children may have: TerminateJob on the parent stops
    # every child, running or not (CancelJob would leave the running ones).
    array = "items_count" in job
    action = TERMINATE if status in STARTED or array else CANCEL
    _record(store, batch_job_id, caller, why, action)
    try:
        if action == TERMINATE:
            batch.terminate(batch_job_id, why)
        else:
            batch.cancel(batch_job_id, why)
            # It may have reached STARTING between the look and the cancel, which
            # CancelJob then ignores: stop it the other way.
            if _batch_status(batch, batch_job_id) in STARTED:
                action = TERMINATE
                _record(store, batch_job_id, caller, why, action)
                batch.terminate(batch_job_id, why)
    except Exception:
        store.clear_cancel(batch_job_id)
        raise
    logger.info(
        "cancel requested",
        extra={"job_id": job_id, "batch_job_id": batch_job_id, "action": action, "by": caller},
    )
    return Cancelled(job_id, batch_job_id, latest["run"], action, why)


def _record(store: Store, batch_job_id: str, caller: str | None, why: str, action: str) -> None:
    request: CancelRequest = {"at": utcnow(), "by": caller, "reason": why, "action": action}
    store.record_cancel(batch_job_id, request)


def _batch_status(batch: Batch, batch_job_id: str) -> str | None:
    found = batch.describe([batch_job_id])
    return found[0].status if found else None
