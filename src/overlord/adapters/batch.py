"""AWS Batch, reached through boto3: submit, describe and find jobs by name."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from overlord.adapters.aws import client
from overlord.errors import BatchRejected, BatchUnavailable

DESCRIBE_LIMIT = 100  # DescribeJobs takes at most 100 IDs
_CLIENT_FAULTS = {"ClientException", "ValidationException", "AccessDeniedException"}


def _error_message(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".strip()
    return type(exc).__name__ + (f": {exc}" if str(exc) else "")


class BatchGateway:
    def __init__(self, job_queue: str) -> None:
        self.job_queue = job_queue

    @property
    def _batch(self) -> Any:
        return client("batch")

    def submit(self, request: dict[str, Any]) -> str:
        """Submit; raises BatchRejected when Batch refuses, BatchUnavailable otherwise."""
        try:
            return str(self._batch.submit_job(**request)["jobId"])
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)
            if code in _CLIENT_FAULTS or (400 <= status < 500 and code != "ThrottlingException"):
                raise BatchRejected(f"Batch refused the job: {_error_message(exc)}") from None
            raise BatchUnavailable(f"Batch failed: {_error_message(exc)}") from None
        except BotoCoreError as exc:
            raise BatchUnavailable(f"Batch unreachable: {_error_message(exc)}") from None

    def describe(self, batch_job_ids: Sequence[str]) -> Iterator[dict[str, Any]]:
        for start in range(0, len(batch_job_ids), DESCRIBE_LIMIT):
            chunk = list(batch_job_ids[start : start + DESCRIBE_LIMIT])
            yield from self._batch.describe_jobs(jobs=chunk)["jobs"]

    def find_by_name(self, job_name: str) -> list[dict[str, Any]]:
        """Batch jobs in our queue with this name (any status), newest first."""
        found: list[dict[str, Any]] = []
        paginator = self._batch.get_paginator("list_jobs")
        try:
            for page in paginator.paginate(
                jobQueue=self.job_queue, filters=[{"name": "JOB_NAME", "values": [job_name]}]
            ):
                found.extend(page["jobSummaryList"])
        except (ClientError, BotoCoreError) as exc:
            raise BatchUnavailable(f"Batch could not list jobs: {_error_message(exc)}") from None
        return sorted(found, key=lambda j: j.get("createdAt", 0), reverse=True)
