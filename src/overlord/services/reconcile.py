"""Repairing what events missed: ask Batch about jobs that stayed non-terminal too long."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Protocol

from overlord.batch_events import BatchJobDetail, observe
from overlord.clock import utcnow
from overlord.observation import RunObservation
from overlord.services.record import LogSource, ResultSource, record_observation
from overlord.services.submit import BatchJobFinder, record_accepted_run, unrecorded_batch_jobs
from overlord.status import JobStatus, RunStatus, is_terminal

logger = logging.getLogger(__name__)

IN_FLIGHT = [s.value for s in JobStatus if not is_terminal(s) and s != JobStatus.SUBMIT_FAILED]


class BatchReader(BatchJobFinder, Protocol):
    def describe(self, batch_job_ids: list[str]) -> Any: ...


@dataclass
class ReconcileReport:
    checked: int = 0
    moved: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    submit_failed: list[str] = field(default_factory=list)
    unknown_to_batch: list[str] = field(default_factory=list)


def reconcile(
    store: Any,
    batch: BatchReader,
    logs: LogSource,
    results: ResultSource,
    *,
    older_than_seconds: int,
    limit: int = 500,
) -> ReconcileReport:
    now = utcnow()
    stale = store.stale_jobs(IN_FLIGHT, now - timedelta(seconds=older_than_seconds), limit)
    report = ReconcileReport(checked=len(stale))
    by_run = {
        j["latest_run"]["batch_job_id"]: j
        for j in stale
        if j.get("latest_run") and j["status"] != JobStatus.SUBMITTING
    }
    seen: set[str] = set()
    for raw in batch.describe(list(by_run)):
        detail = BatchJobDetail.model_validate(raw)
        seen.add(detail.job_id)
        if record_observation(store, logs, results, _observed(detail)).moved:
            report.moved.append(detail.job_name)
    report.unknown_to_batch = [by_run[i]["_id"] for i in by_run if i not in seen]
    for job_id in report.unknown_to_batch:
        logger.warning("Batch no longer knows the latest run", extra={"job_id": job_id})

    for job in stale:
        if job["status"] == JobStatus.SUBMITTING:
            _repair_submission(store, batch, logs, results, job, report)
    store.mark_reconciled([j["_id"] for j in stale], now)
    return report


def _observed(detail: BatchJobDetail) -> RunObservation:
    """An observation dated when Batch says the status was reached, where it says so."""
    obs = observe(detail, utcnow())
    when = None
    if is_terminal(obs.status):
        when = obs.stopped_at
    elif obs.status == RunStatus.RUNNING:
        when = obs.started_at
    return replace(obs, observed_at=when) if when else obs


def _repair_submission(
    store: Any,
    batch: BatchReader,
    logs: LogSource,
    results: ResultSource,
    job: dict[str, Any],
    report: ReconcileReport,
) -> None:
    """A job claimed but never recorded as submitted: adopt Batch's job, or free the claim."""
    job_id = job["_id"]
    candidates = unrecorded_batch_jobs(store, batch, job_id)
    if not candidates:
        store.mark_submit_failed(
            job_id, "submission did not complete: Batch has no such job", utcnow()
        )
        report.submit_failed.append(job_id)
        return
    newest = candidates[0]
    record_accepted_run(store, job, newest["jobId"], verb="adopted")
    for raw in batch.describe([newest["jobId"]]):
        record_observation(store, logs, results, _observed(BatchJobDetail.model_validate(raw)))
    report.adopted.append(job_id)
