"""Domain errors. Entrypoints map each to an HTTP status; nothing else does."""

from __future__ import annotations

# The base and the 400 are the contracts' (an unknown task or bad parameters, raised by
# overlord_contracts.catalogue, are InvalidRequest like any other).
from overlord_contracts.errors import InvalidRequest as InvalidRequest
from overlord_contracts.errors import OverlordError as OverlordError


class UnsupportedMediaType(OverlordError):
    """The body is not declared as JSON (``Content-Type``): 415."""


class JobNotFound(OverlordError):
    def __init__(self, job_id: str) -> None:
        # The ID comes from the path as the client typed it: shown, but not at any length.
        super().__init__(f"job_id: no job {job_id[:80]!r}")
        self.job_id = job_id


class TaskNotFound(OverlordError):
    """``GET /tasks/{name}`` of a task the catalogue does not have: 404."""


class RunInProgress(OverlordError):
    """A new run was asked for while the job still has one in flight: 409."""


class NothingToRerun(OverlordError):
    """A re-run of an array job's failed items, when none failed: 409."""


class NoActiveRun(OverlordError):
    """A cancel was asked for while the job has no run in flight: 409."""


class BatchCallFailed(OverlordError):
    """A Batch call other than SubmitJob (CancelJob, TerminateJob) failed: 502."""


class BatchRejected(OverlordError):
    """AWS Batch refused the job (a 4xx from Batch): 502, not retried."""


class BatchUnavailable(OverlordError):
    """AWS Batch could not be reached, or refused for now, before it created anything
    (a connection refused, throttling, a failed ListJobs): 503. The job is SUBMIT_FAILED
    and the next identical request submits it again. `retry_after_seconds`: when to ask
    again, where known (the answer's Retry-After)."""

    def __init__(self, message: str, retry_after_seconds: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class BatchThrottled(BatchUnavailable):
    """Batch answered TooManyRequests (its 50 SubmitJob calls/s): 503 with Retry-After."""

    def __init__(self, message: str, retry_after_seconds: int = 1) -> None:
        super().__init__(message, retry_after_seconds)


class SubmitOutcomeUnknown(BatchUnavailable):
    """SubmitJob's answer was lost (a 5xx, a read timeout, a connection closed midway):
    Batch may have created the job. 503 with Retry-After.

    Nobody may look for the job by name at once: ListJobs lists a job only a while after
    it was created, so a request that took the job over now might not find it and submit
    a second one. The submitter keeps its claim that long (`SubmitConfig.list_delay`);
    then a retry, or reconcile, finds the job by name and adopts it, or submits anew.
    """


class ObjectStoreUnavailable(OverlordError):
    """S3 could not be reached or refused a write after retries: 503. A submission that
    needed it is SUBMIT_FAILED, and sending the same request again retries it."""


class StoreUnavailable(OverlordError):
    """MongoDB could not be reached after retries: 503."""


class SecretUnavailable(OverlordError):
    """The MongoDB URI could not be read from Secrets Manager (no value yet, unreachable,
    throttled, refused): 503. The message names the secret and what went wrong, never
    its value."""
