"""How a job becomes a SubmitJob request: environment, retry rules, timeout, tags."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

from overlord.config import JOB_DEFINITIONS_FILE
from overlord.fieldnames import unescape_document
from overlord.identity import canonical_json
from overlord.schema import JobDocument

# ECS caps a task's container overrides at 8,192 characters, and AWS Batch adds its own
# variables (AWS_BATCH_JOB_ID, _JQ_NAME, _CE_NAME, _JOB_ATTEMPT, ...) to the same budget:
# over it a job is accepted and then fails to start ("Container Overrides length must be
# at most 8192"). Settings.container_overrides_budget keeps ours well under.
CONTAINER_OVERRIDES_CAP = 8192


@functools.cache
def job_definitions() -> dict[str, dict[str, Any]]:
    """The job definitions shared with Terraform and the local stack."""
    loaded: dict[str, dict[str, Any]] = json.loads(JOB_DEFINITIONS_FILE.read_text())
    return loaded


def exit_rules(job_definition: str) -> list[dict[str, str]]:
    """The definition's evaluateOnExit rules.

    A retryStrategy given at submission replaces the definition's whole strategy, so the
    rules (e.g. "exit code 2 = bad input, do not retry") must be sent again with it. The
    definition is found by its contract name, which the deployed name ends with (Terraform
    prefixes it with the environment: overlord-dev-overlord-worker).
    """
    name = job_definition.rsplit("/", 1)[-1].split(":", 1)[0]
    definitions = job_definitions()
    found: dict[str, Any] = definitions.get(name) or next(
        (d for key, d in definitions.items() if name.endswith("-" + key)), {}
    )
    return list(found.get("retryStrategy", {}).get("evaluateOnExit", []))


def parameters_json(job: JobDocument) -> str:
    return canonical_json(unescape_document(job["parameters"])).decode()


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

    def container_overrides(self) -> dict[str, list[dict[str, str]]]:
        return {"environment": [{"name": k, "value": v} for k, v in self.environment.items()]}

    def overrides_size(self) -> int:
        """Characters of the container overrides as JSON: what ECS counts against its cap."""
        return len(json.dumps(self.container_overrides(), separators=(",", ":")))

    def as_api(self) -> dict[str, object]:
        """Keyword arguments for boto3's `batch.submit_job`."""
        request: dict[str, object] = {
            "jobName": self.job_name,
            "jobQueue": self.job_queue,
            "jobDefinition": self.job_definition,
            "containerOverrides": self.container_overrides(),
            "retryStrategy": {"attempts": self.attempts, "evaluateOnExit": self.evaluate_on_exit},
            "propagateTags": True,
        }
        if self.tags:
            request["tags"] = self.tags
        if self.timeout_seconds:
            request["timeout"] = {"attemptDurationSeconds": self.timeout_seconds}
        return request


def submit_request(
    job: JobDocument, *, job_queue: str, job_definition: str, environment: dict[str, str]
) -> SubmitRequest:
    return SubmitRequest(
        job_name=job["_id"],
        job_queue=job_queue,
        job_definition=job_definition,
        environment=environment,
        attempts=job["attempts"],
        evaluate_on_exit=exit_rules(job_definition),
        timeout_seconds=job["timeout_seconds"],
        tags=unescape_document(job["tags"]),
    )
