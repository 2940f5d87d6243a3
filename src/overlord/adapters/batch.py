"""AWS Batch, reached through boto3: submit, describe and find jobs by name.

SubmitJob is not idempotent, so botocore never retries it on its own (a read timeout
or a 5xx after Batch created the job would create a second one). Only throttling,
which means the job was not created, is retried here, briefly. A failure before the
request left (no connection) is BatchUnavailable; one after (a 5xx, a read timeout) is
SubmitOutcomeUnknown, and the job is looked for by name once ListJobs would list it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ProxyConnectionError,
)
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from overlord.adapters import metrics
from overlord.adapters.aws import (
    NO_RETRY_CONNECT_SECONDS,
    NO_RETRY_READ_SECONDS,
    client,
    submit_client,
)
from overlord.adapters.ratelimit import TokenBucket
from overlord.domain import deadline
from overlord.domain.errors import (
    BatchCallFailed,
    BatchRejected,
    BatchThrottled,
    BatchUnavailable,
    SubmitOutcomeUnknown,
)
from overlord.domain.submission import SubmitRequest
from overlord.ports import BatchJobRef
from overlord.ports.batch_events import BatchJobDetail

DESCRIBE_LIMIT = 100  # DescribeJobs takes at most 100 IDs
_THROTTLED = {"TooManyRequestsException", "ThrottlingException", "Throttling"}
_CLIENT_FAULTS = {"ClientException", "ValidationException", "AccessDeniedException"}
# Failures to connect: the request never left, so Batch created nothing. (Other
# BotoCoreErrors before sending, missing credentials or a bad parameter, are not
# HTTPClientErrors.)
_NOT_SENT = (EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError)
# What an invocation still needs once its turn to submit has come: SubmitJob at its
# slowest (connect + read timeouts), then recording the run (a few MongoDB writes).
AFTER_THE_WAIT_SECONDS = NO_RETRY_CONNECT_SECONDS + NO_RETRY_READ_SECONDS + 2.0


def _error_message(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".strip()
    return type(exc).__name__ + (f": {exc}" if str(exc) else "")


def _submit_error(exc: ClientError) -> Exception:
    code = exc.response.get("Error", {}).get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)
    if code in _THROTTLED or status == 429:
        return BatchThrottled(f"Batch is throttling submissions: {_error_message(exc)}")
    if code in _CLIENT_FAULTS or 400 <= status < 500:
        return BatchRejected(f"Batch refused the job: {_error_message(exc)}")
    return SubmitOutcomeUnknown(f"Batch failed: {_error_message(exc)}")


def _transport_error(exc: BotoCoreError) -> BatchUnavailable:
    if isinstance(exc, HTTPClientError) and not isinstance(exc, _NOT_SENT):
        return SubmitOutcomeUnknown(f"Batch's answer was lost: {_error_message(exc)}")
    return BatchUnavailable(f"Batch unreachable: {_error_message(exc)}")


class BatchGateway:
    def __init__(
        self, job_queue: str, pace: TokenBucket | None = None, max_wait_seconds: float = 0
    ) -> None:
        self.job_queue = job_queue
        self.pace = pace
        self.max_wait_seconds = max_wait_seconds

    def submit(self, request: SubmitRequest) -> str:
        """Submit once, paced to Batch's rate; raises BatchRejected, BatchThrottled or
        BatchUnavailable."""
        if self.pace is not None and not self.pace.acquire(self._longest_wait()):
            metrics.add(metrics.Metric.SUBMIT_JOB_THROTTLED)
            raise BatchThrottled(
                "too many submissions at once; Batch accepts a limited rate",
                retry_after_seconds=self.pace.retry_after(),
            )
        return self._submit(request)

    def _longest_wait(self) -> float:
        """The configured limit, or less when the invocation would run out of time:
        better a 503 with Retry-After than a Lambda timeout (API Gateway's 503 without
        one, and a claim left to lapse)."""
        left = deadline.seconds_left()
        if left is None:
            return self.max_wait_seconds
        return max(0.0, min(self.max_wait_seconds, left - AFTER_THE_WAIT_SECONDS))

    @retry(
        retry=retry_if_exception_type(BatchThrottled),
        stop=stop_after_attempt(3),
        wait=wait_exponential(multiplier=0.2, max=1),
        reraise=True,
    )
    def _submit(self, request: SubmitRequest) -> str:
        started = time.monotonic()
        try:
            return str(submit_client("batch").submit_job(**request.as_api())["jobId"])
        except ClientError as exc:
            error = _submit_error(exc)
            if isinstance(error, BatchThrottled):
                metrics.add(metrics.Metric.SUBMIT_JOB_THROTTLED)
            raise error from None
        except BotoCoreError as exc:
            raise _transport_error(exc) from None
        finally:
            elapsed_ms = (time.monotonic() - started) * 1000
            metrics.add(metrics.Metric.SUBMIT_JOB_LATENCY, elapsed_ms)

    def describe(self, batch_job_ids: Sequence[str]) -> list[BatchJobDetail]:
        found: list[BatchJobDetail] = []
        for start in range(0, len(batch_job_ids), DESCRIBE_LIMIT):
            chunk = list(batch_job_ids[start : start + DESCRIBE_LIMIT])
            try:
                jobs: list[dict[str, Any]] = client("batch").describe_jobs(jobs=chunk)["jobs"]
            except (ClientError, BotoCoreError) as exc:
                raise BatchUnavailable(
                    f"Batch could not describe jobs: {_error_message(exc)}"
                ) from None
            found += [BatchJobDetail.model_validate(j) for j in jobs]
        return found

    def list_children(self, parent: str, status: str) -> list[str]:
        """An array job's children in `status`; 1,000 per page, ListJobs' most."""
        found: list[str] = []
        paginator = client("batch").get_paginator("list_jobs")
        try:
            pages = paginator.paginate(
                arrayJobId=parent, jobStatus=status, PaginationConfig={"PageSize": 1000}
            )
            for page in pages:
                found += [j["jobId"] for j in page["jobSummaryList"]]
        except (ClientError, BotoCoreError) as exc:
            raise BatchUnavailable(
                f"Batch could not list an array's children: {_error_message(exc)}"
            ) from None
        return found

    def cancel(self, batch_job_id: str, reason: str) -> None:
        self._stop("cancel_job", batch_job_id, reason)

    def terminate(self, batch_job_id: str, reason: str) -> None:
        self._stop("terminate_job", batch_job_id, reason)

    @staticmethod
    def _stop(operation: str, batch_job_id: str, reason: str) -> None:
        """CancelJob / TerminateJob; both are idempotent, so botocore's retries are safe."""
        try:
            getattr(client("batch"), operation)(jobId=batch_job_id, reason=reason)
        except (ClientError, BotoCoreError) as exc:
            raise BatchCallFailed(f"Batch {operation}: {_error_message(exc)}") from None

    def find_by_name(self, job_name: str) -> list[BatchJobRef]:
        """Batch jobs in our queue with this name (any status), newest first.

        An array job's children (`<parent>:<index>`, named like their parent) are left
        out: they are never a submission of ours. AWS lists them only under `arrayJobId`;
        moto lists them with the queue as well."""
        found: list[BatchJobRef] = []
        paginator = client("batch").get_paginator("list_jobs")
        try:
            for page in paginator.paginate(
                jobQueue=self.job_queue, filters=[{"name": "JOB_NAME", "values": [job_name]}]
            ):
                found += [
                    BatchJobRef(j["jobId"], int(j.get("createdAt", 0)), j.get("status", ""))
                    for j in page["jobSummaryList"]
                    if ":" not in j["jobId"]
                ]
        except (ClientError, BotoCoreError) as exc:
            raise BatchUnavailable(f"Batch could not list jobs: {_error_message(exc)}") from None
        return sorted(found, key=lambda j: j.created_at_ms, reverse=True)
