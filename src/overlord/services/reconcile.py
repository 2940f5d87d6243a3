"""Repairing what events missed: ask Batch about jobs that stayed non-terminal too long."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from overlord.batch_events import observe_described
from overlord.clock import utcnow
from overlord.ports import Batch, LogStreams, Objects, Store
from overlord.schema import JobDocument
from overlord.services.record import copy_late_lines, record_observation
from overlord.services.submit import record_accepted_run, unrecorded_batch_jobs
from overlord.status import IN_FLIGHT, SUBMITTING

logger = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    checked: int = 0
    moved: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    submit_failed: list[str] = field(default_factory=list)
    unknown_to_batch: list[str] = field(default_factory=list)
    late_log_lines: int = 0


def reconcile(
    store: Store,
    batch: Batch,
    logs: LogStreams,
    objects: Objects,
    *,
    older_than_seconds: int,
    settle_logs_seconds: int,
    limit: int = 500,
) -> ReconcileReport:
    now = utcnow()
    stale = store.stale_jobs(IN_FLIGHT, now - timedelta(seconds=older_than_seconds), limit)
    report = ReconcileReport(checked=len(stale))
    by_run = {
        latest["batch_job_id"]: j
        for j in stale
        if (latest := j["latest_run"]) is not None and j["status"] != SUBMITTING
    }
    seen: set[str] = set()
    for detail in batch.describe(list(by_run)):
        seen.add(detail.batch_job_id)
        if record_observation(store, logs, objects, observe_described(detail, utcnow())).moved:
            report.moved.append(detail.job_name)
    report.unknown_to_batch = [by_run[i]["_id"] for i in by_run if i not in seen]
    for job_id in report.unknown_to_batch:
        logger.warning("Batch no longer knows the latest run", extra={"job_id": job_id})

    for job in stale:
        claim = job.get("claim")
        if job["status"] == SUBMITTING and not (claim and claim["expires_at"] > now):
            # A live claim belongs to a submitter still at work: leave it to finish.
            _repair_submission(store, batch, logs, objects, job, report)
    store.mark_reconciled([j["_id"] for j in stale], now)
    report.late_log_lines = _settle_logs(
        store, logs, now - timedelta(seconds=settle_logs_seconds), limit
    )
    return report


def _settle_logs(store: Store, logs: LogStreams, settled_before: datetime, limit: int) -> int:
    """Copy lines that reached CloudWatch after their run's terminal event. A run is read
    again on every pass until it has been over for `settle_logs_seconds`, then once more
    and marked settled."""
    copied, settled = 0, []
    for run in store.unsettled_runs(limit):
        copied += copy_late_lines(store, logs, run)
        if run["updated_at"] <= settled_before:
            settled.append(run["_id"])
    store.mark_logs_settled(settled)
    return copied


def _repair_submission(
    store: Store,
    batch: Batch,
    logs: LogStreams,
    objects: Objects,
    job: JobDocument,
    report: ReconcileReport,
) -> None:
    """A job claimed but never recorded as submitted: adopt Batch's job, or free the claim."""
    job_id = job["_id"]
    candidates = unrecorded_batch_jobs(store, batch, job)
    if not candidates:
        store.mark_submit_failed(
            job_id, "submission did not complete: Batch has no such job", utcnow()
        )
        report.submit_failed.append(job_id)
        return
    newest = candidates[0].batch_job_id
    record_accepted_run(store, job, newest, verb="adopted", array_size=job.get("items_count"))
    for detail in batch.describe([newest]):
        record_observation(store, logs, objects, observe_described(detail, utcnow()))
    report.adopted.append(job_id)
