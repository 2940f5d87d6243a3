"""Repairing what events missed: ask Batch about jobs that stayed non-terminal too long."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from overlord.domain.clock import utcnow
from overlord.domain.schema import JobDocument, RunDocument
from overlord.domain.status import IN_FLIGHT, SUBMITTING, RunStatus, is_terminal, moves_forward
from overlord.ports import Batch, LogStreams, Objects, Store
from overlord.ports.batch_events import observe_described
from overlord.services.record import Outcome, copy_late_lines, record_observation
from overlord.services.submit import (
    CLAIM_LEASE,
    record_accepted_run,
    shape_of,
    unrecorded_batch_jobs,
)

# Children of one array described per pass at most (10 DescribeJobs calls): a pass stays
# short however many events were lost; the next pass takes the rest.
MAX_CHILDREN_REPAIRED = 1000

logger = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    checked: int = 0
    moved: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    submit_failed: list[str] = field(default_factory=list)
    unknown_to_batch: list[str] = field(default_factory=list)
    late_log_lines: int = 0
    children_repaired: int = 0
    # Terminal statuses that jobs' own runs reached through this pass's repairs.
    ended: dict[str, int] = field(default_factory=dict)

    def note(self, outcome: Outcome) -> Outcome:
        if outcome.ended:
            self.ended[outcome.ended] = self.ended.get(outcome.ended, 0) + 1
        return outcome


def reconcile(
    store: Store,
    batch: Batch,
    log_streams: LogStreams,
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
        observed = observe_described(detail, utcnow())
        if report.note(record_observation(store, log_streams, objects, observed)).moved:
            report.moved.append(detail.job_name)
        if observed.status_summary is not None:
            report.children_repaired += repair_children(
                store, batch, log_streams, objects, detail.batch_job_id, observed.status_summary
            )
            # An ended array whose job did not end with it: a child's ending was recorded
            # but not counted. Recount, and end the job if they all have.
            if is_terminal(observed.status) and store.complete_array(detail.batch_job_id, utcnow()):
                report.moved.append(detail.job_name)
    report.unknown_to_batch = [by_run[i]["_id"] for i in by_run if i not in seen]
    for job_id in report.unknown_to_batch:
        logger.warning("Batch no longer knows the latest run", extra={"job_id": job_id})

    for job in stale:
        claim = job.get("claim")
        if job["status"] == SUBMITTING and not (claim and claim["expires_at"] > now):
            # A live claim belongs to a submitter still at work: leave it to finish.
            _repair_submission(store, batch, log_streams, objects, job, report)
    failed = store.failed_submissions(now - timedelta(seconds=older_than_seconds), limit)
    for job in failed:
        _adopt_failed_submission(store, batch, log_streams, objects, job, report)
    store.mark_reconciled([j["_id"] for j in stale], now)
    store.mark_failures_seen(failed, now)
    _settle(
        store,
        batch,
        log_streams,
        objects,
        now - timedelta(seconds=settle_logs_seconds),
        limit,
        report,
    )
    return report


def _settle(
    store: Store,
    batch: Batch,
    log_streams: LogStreams,
    objects: Objects,
    settled_before: datetime,
    limit: int,
    report: ReconcileReport,
) -> None:
    """Copy lines that reached CloudWatch after their run's terminal event; for an ended
    array run, record children whose events were lost. A run is looked at again on every
    pass until it has been over for `settle_logs_seconds`, then once more and marked
    settled."""
    settled = []
    for run in store.unsettled_runs(limit):
        report.late_log_lines += copy_late_lines(store, log_streams, run)
        if "array" in run:
            report.children_repaired += _repair_ended_array(store, batch, log_streams, objects, run)
        if run["updated_at"] <= settled_before:
            settled.append(run["_id"])
    store.mark_logs_settled(settled)


def _repair_ended_array(
    store: Store, batch: Batch, log_streams: LogStreams, objects: Objects, run: RunDocument
) -> int:
    """An ended array run's children by Batch's final count (its last event's, else
    DescribeJobs'): children still short of their ending lost an event."""
    summary = run["array"].get("status_summary")
    if not summary:
        described = batch.describe([run["_id"]])
        array = described[0].array_properties if described else None
        summary = array.status_summary if array else None
    return repair_children(store, batch, log_streams, objects, run["_id"], summary or {})


def repair_children(
    store: Store,
    batch: Batch,
    log_streams: LogStreams,
    objects: Objects,
    parent: str,
    summary: Mapping[str, int],
) -> int:
    """Bring an array run's children to what Batch says of them, through the recorder's
    own code: where Batch counts more children in a status than are recorded in it,
    ListJobs(arrayJobId, status) names them, and those recorded short of that status are
    described (at most MAX_CHILDREN_REPAIRED per pass). Returns how many were described.

    Costs little while the counts agree (the usual case: the children are counted per
    status, not read)."""
    have = store.count_children(parent)
    short = [
        status
        for status, count in summary.items()
        if status in RunStatus.__members__ and count > have.get(status, 0)
    ]
    recorded = {c.index: c.status for c in store.children(parent)} if short else {}
    behind: list[str] = []
    for status in short:
        for child in batch.list_children(parent, status):
            index = child.rpartition(":")[2]
            current = recorded.get(int(index)) if index.isdigit() else None
            if current is None or moves_forward(current, status):
                behind.append(child)
    behind = behind[:MAX_CHILDREN_REPAIRED]
    for detail in batch.describe(behind):
        record_observation(store, log_streams, objects, observe_described(detail, utcnow()))
    if behind:
        logger.info(
            "repaired an array's children", extra={"batch_job_id": parent, "children": len(behind)}
        )
    return len(behind)


def _repair_submission(
    store: Store,
    batch: Batch,
    log_streams: LogStreams,
    objects: Objects,
    job: JobDocument,
    report: ReconcileReport,
) -> None:
    """A job claimed but never recorded as submitted: adopt Batch's job, or free the claim.

    The pass read the job minutes ago, maybe: it first takes the lapsed claim over, as
    a client's retry would, and acts on the job as it is now. Acting on its read, it
    took a re-run's Batch job for this unrecorded submission and numbered it run 1."""
    reason = "submission did not complete: Batch has no such job"
    if _claim_and_adopt(store, batch, log_streams, objects, job, report, reason) is False:
        report.submit_failed.append(job["_id"])


def _adopt_failed_submission(
    store: Store,
    batch: Batch,
    log_streams: LogStreams,
    objects: Objects,
    job: JobDocument,
    report: ReconcileReport,
) -> None:
    """A SUBMIT_FAILED job that Batch has after all (a take-over's ListJobs failed
    while an earlier attempt's job was there, and the client gave up): take the claim,
    as a client's retry would, and adopt the job."""
    if not unrecorded_batch_jobs(store, batch, job):
        return
    # If its job is recorded between the two reads, the claim goes back with its failure.
    _claim_and_adopt(store, batch, log_streams, objects, job, report, str(job["status_reason"]))


def _claim_and_adopt(
    store: Store,
    batch: Batch,
    log_streams: LogStreams,
    objects: Objects,
    job: JobDocument,
    report: ReconcileReport,
    reason: str,
) -> bool | None:
    """Take the job's claim, as a client's retry would, and adopt Batch's job as the job
    is then. Returns True when adopted, False when the claim went back as a failed
    submission (`reason`: Batch had no unrecorded job), None when another held the job
    (recorded since the read, or a submitter still at work)."""
    owner = uuid.uuid4().hex
    claim = store.claim_job(job, owner, utcnow(), CLAIM_LEASE)
    if not claim.claimed:
        return None
    candidates = unrecorded_batch_jobs(store, batch, claim.job)
    if not candidates:
        store.mark_submit_failed(job["_id"], reason, utcnow(), owner)
        return False
    _adopt(store, batch, log_streams, objects, claim.job, candidates[0].batch_job_id, report)
    report.adopted.append(job["_id"])
    return True


def _adopt(
    store: Store,
    batch: Batch,
    log_streams: LogStreams,
    objects: Objects,
    job: JobDocument,
    batch_job_id: str,
    report: ReconcileReport,
) -> None:
    shape = shape_of(job, job.get("selection"))
    record_accepted_run(store, job, batch_job_id, verb="adopted", shape=shape)
    for detail in batch.describe([batch_job_id]):
        report.note(
            record_observation(store, log_streams, objects, observe_described(detail, utcnow()))
        )
