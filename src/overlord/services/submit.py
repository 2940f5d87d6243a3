"""Submitting jobs: claim in MongoDB, then Batch, then record the run (DESIGN §1–2)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from pymongo.errors import ConnectionFailure
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from overlord import records
from overlord.bucket_layout import parameters_key
from overlord.clock import utcnow
from overlord.errors import BatchRejected, BatchUnavailable, JobNotFound, RunInProgress
from overlord.observation import RunObservation
from overlord.request import JobRequest
from overlord.status import JobStatus, RunStatus
from overlord.submission import parameters_json, submit_job_request

logger = logging.getLogger(__name__)


class BatchJobFinder(Protocol):
    def find_by_name(self, job_name: str) -> list[dict[str, Any]]: ...


class Batch(BatchJobFinder, Protocol):
    def submit(self, request: dict[str, Any]) -> str: ...


class ParameterStore(Protocol):
    def put_text(self, key: str, text: str) -> str: ...


@dataclass(frozen=True)
class SubmitConfig:
    job_queue: str
    job_definition: str
    inline_parameters_limit: int


@dataclass(frozen=True)
class Submission:
    job: dict[str, Any]
    created: bool  # True: this request (re)submitted the job to Batch


# Writes after Batch accepted the job must not be lost to a passing MongoDB failure:
# they are idempotent, so retry them.
_retry_store = retry(
    retry=retry_if_exception_type(ConnectionFailure),
    stop=stop_after_attempt(4),
    wait=wait_exponential(multiplier=0.2, max=2),
    reraise=True,
)


def submit_job(
    store: Any, batch: Batch, params: ParameterStore, config: SubmitConfig, request: JobRequest
) -> Submission:
    now = utcnow()
    job, claimed = store.claim_job(records.new_job(request, now), now)
    if not claimed:
        return Submission(job, created=False)
    return Submission(_submit_claimed(store, batch, params, config, job), created=True)


def unrecorded_batch_jobs(store: Any, batch: BatchJobFinder, job_id: str) -> list[dict[str, Any]]:
    """Batch jobs named after this job that no run records, newest first."""
    known = {run["_id"] for run in store.list_runs(job_id)}
    return [s for s in batch.find_by_name(job_id) if s["jobId"] not in known]


def start_new_run(
    store: Any, batch: Batch, params: ParameterStore, config: SubmitConfig, job_id: str
) -> dict[str, Any]:
    """A deliberate re-run: a new Batch job for a job whose last run has finished."""
    job = store.claim_new_run(job_id, utcnow())
    if job is None:
        existing = store.get_job(job_id)
        if existing is None:
            raise JobNotFound(job_id)
        raise RunInProgress(
            f"job {job_id} is {existing['status']}; a new run can start once it has finished"
        )
    return _submit_claimed(store, batch, params, config, job)


def _parameters_env(
    params: ParameterStore, config: SubmitConfig, job: dict[str, Any]
) -> dict[str, str]:
    text = parameters_json(job)
    if len(text.encode()) <= config.inline_parameters_limit:
        return {"OVERLORD_PARAMETERS": text}
    return {"OVERLORD_PARAMETERS_URI": params.put_text(parameters_key(job["_id"]), text)}


def _submit_claimed(
    store: Any, batch: Batch, params: ParameterStore, config: SubmitConfig, job: dict[str, Any]
) -> dict[str, Any]:
    job_id = job["_id"]
    try:
        # A submission that "failed" may have reached Batch (its answer lost on the way
        # back): adopt that Batch job rather than start a second one.
        adopted = (
            unrecorded_batch_jobs(store, batch, job_id)
            if job["status"] == JobStatus.SUBMIT_FAILED
            else []
        )
        if adopted:
            batch_job_id = adopted[0]["jobId"]
        else:
            request = submit_job_request(
                job,
                job_queue=config.job_queue,
                job_definition=config.job_definition,
                parameters_env=_parameters_env(params, config, job),
            )
            batch_job_id = batch.submit(request)
    except (BatchRejected, BatchUnavailable) as exc:
        store.mark_submit_failed(job_id, str(exc), utcnow())
        raise
    except Exception as exc:
        # Anything else (S3 down, a bug) must not leave the job claimed forever.
        store.mark_submit_failed(job_id, f"submission failed: {type(exc).__name__}", utcnow())
        raise
    verb = "adopted" if adopted else "submitted"
    logger.info(f"{verb} Batch job", extra={"job_id": job_id, "batch_job_id": batch_job_id})
    record_accepted_run(
        store,
        job,
        batch_job_id,
        verb=verb,
        job_queue=config.job_queue,
        job_definition=config.job_definition,
    )
    return store.get_job(job_id) or job


def record_accepted_run(
    store: Any,
    job: dict[str, Any],
    batch_job_id: str,
    *,
    verb: str,
    job_queue: str | None = None,
    job_definition: str | None = None,
) -> None:
    """Batch holds a job for this claim (submitted or adopted): record it as the next run."""
    job_id = job["_id"]
    now = utcnow()
    run_number = int(job.get("run_count") or 0) + 1
    submitted = RunObservation(
        batch_job_id=batch_job_id,
        job_name=job_id,
        status=RunStatus.SUBMITTED.value,
        observed_at=now,
        job_queue=job_queue,
        job_definition=job_definition,
    )
    _retry_store(store.start_run)(submitted, run_number, now)
    where = f" in {job_queue}" if job_queue else ""
    _retry_store(store.append_logs)(
        [
            records.log_record(
                job_id=job_id,
                batch_job_id=batch_job_id,
                attempt=0,
                kind=records.LogKind.SUBMISSION,
                seq=0,
                ts=now,
                message=f"{verb} run {run_number}{where}",
                run=run_number,
            ),
            records.state_record(job_id, batch_job_id, RunStatus.SUBMITTED.value, now, None),
        ]
    )
