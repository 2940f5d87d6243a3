"""How a job becomes a SubmitJob request: environment, retry rules, timeout, tags."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from overlord.domain.arrays import RunShape
from overlord.domain.fieldnames import unescape_document
from overlord.domain.identity import canonical_json
from overlord.domain.schema import ItemsDocument, JobDocument
from overlord_contracts.catalogue import Task, evaluate_on_exit
from overlord_contracts.worker_env import job_environment

# ECS caps a task's container overrides at 8,192 characters, and AWS Batch adds its own
# variables (AWS_BATCH_JOB_ID, _JQ_NAME, _CE_NAME, _JOB_ATTEMPT, ...) to the same budget:
# over it a job is accepted and then fails to start ("Container Overrides length must be
# at most 8192"). Settings.container_overrides_budget keeps ours well under.
CONTAINER_OVERRIDES_CAP = 8192


def parameters_json(job: JobDocument) -> str:
    return canonical_json(unescape_document(job["parameters"] or {})).decode()


def items_json(items: ItemsDocument) -> str:
    return canonical_json(unescape_document(items["items"])).decode()


def worker_environment(
    job: JobDocument,
    shape: RunShape | None,
    *,
    text: str | None = None,
    uri: str | None = None,
    offsets_uri: str | None = None,
    indices: str | None = None,
    indices_uri: str | None = None,
) -> dict[str, str]:
    """The worker's environment for a run of `job` (`shape`: of an array job): its input
    inline (`text`) or through S3 (`uri`; an array's items with their `offsets_uri`),
    and for a re-run of some items their list, inline (`indices`) or at `indices_uri`."""
    if shape is None:
        return job_environment(job["_id"], job["task"], parameters=text, parameters_uri=uri)
    return job_environment(
        job["_id"],
        job["task"],
        items=text,
        items_uri=uri,
        items_offsets_uri=offsets_uri,
        item_indices=indices,
        item_indices_uri=indices_uri,
        item_index=shape.item,
    )


def container_overrides(environment: dict[str, str]) -> dict[str, list[dict[str, str]]]:
    return {"environment": [{"name": k, "value": v} for k, v in environment.items()]}


def overrides_size(environment: dict[str, str]) -> int:
    """Characters of the container overrides as JSON: what ECS counts against its cap."""
    return len(json.dumps(container_overrides(environment), separators=(",", ":")))


@dataclass(frozen=True)
class SubmitRequest:
    """One SubmitJob call; the job name is our job ID."""

    job_name: str
    job_queue: str
    job_definition: str
    environment: dict[str, str]
    attempts: int
    evaluate_on_exit: list[dict[str, str]] = field(default_factory=list)
    timeout_seconds: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    array_size: int | None = None  # an array job: this many children

    def overrides_size(self) -> int:
        return overrides_size(self.environment)

    def as_api(self) -> dict[str, object]:
        """Keyword arguments for boto3's `batch.submit_job`."""
        request: dict[str, object] = {
            "jobName": self.job_name,
            "jobQueue": self.job_queue,
            "jobDefinition": self.job_definition,
            "containerOverrides": container_overrides(self.environment),
            "retryStrategy": {"attempts": self.attempts, "evaluateOnExit": self.evaluate_on_exit},
            "propagateTags": True,
        }
        if self.tags:
            request["tags"] = self.tags
        if self.timeout_seconds:
            request["timeout"] = {"attemptDurationSeconds": self.timeout_seconds}
        if self.array_size is not None:
            request["arrayProperties"] = {"size": self.array_size}
        return request


def submit_request(
    job: JobDocument,
    task: Task,
    *,
    job_queue: str,
    job_definition: str,
    environment: dict[str, str],
    array_size: int | None = None,
    own_tags: dict[str, str] | None = None,
) -> SubmitRequest:
    """To `job_definition`, the task's as this deployment registered it, with the job's
    attempts and the task's retry rules; the job's tags are the user's and `own_tags`
    (Overlord's, which admission kept theirs)."""
    return SubmitRequest(
        job_name=job["_id"],
        job_queue=job_queue,
        job_definition=job_definition,
        environment=environment,
        attempts=job["attempts"],
        evaluate_on_exit=evaluate_on_exit(task),
        timeout_seconds=job["timeout_seconds"],
        tags={**unescape_document(job["tags"]), **(own_tags or {})},
        array_size=array_size,
    )
