"""How a job becomes a SubmitJob request: environment, retry rules, timeout, tags."""

from __future__ import annotations

import functools
import json
from typing import Any

from overlord.config import JOB_DEFINITIONS_FILE
from overlord.fieldnames import unescape_document
from overlord.identity import canonical_json


@functools.cache
def job_definitions() -> dict[str, Any]:
    """The job definitions shared with Terraform and the local stack."""
    return dict(json.loads(JOB_DEFINITIONS_FILE.read_text()))


def exit_rules(job_definition: str) -> list[dict[str, str]]:
    """The definition's evaluateOnExit rules.

    A retryStrategy given at submission replaces the definition's whole strategy, so the
    rules (e.g. "exit code 2 = bad input, do not retry") must be sent again with it.
    """
    name = job_definition.rsplit("/", 1)[-1].split(":", 1)[0]
    definition = job_definitions().get(name, {})
    return list(definition.get("retryStrategy", {}).get("evaluateOnExit", []))


def parameters_json(job: dict[str, Any]) -> str:
    return canonical_json(unescape_document(job["parameters"])).decode()


def submit_job_request(
    job: dict[str, Any],
    *,
    job_queue: str,
    job_definition: str,
    parameters_env: dict[str, str],
) -> dict[str, Any]:
    """Keyword arguments for `batch.submit_job`; the job name is the job ID."""
    environment = {"OVERLORD_JOB_ID": job["_id"], "OVERLORD_TASK": job["task"], **parameters_env}
    request: dict[str, Any] = {
        "jobName": job["_id"],
        "jobQueue": job_queue,
        "jobDefinition": job_definition,
        "containerOverrides": {
            "environment": [{"name": k, "value": v} for k, v in environment.items()],
        },
        "retryStrategy": {
            "attempts": job["attempts"],
            "evaluateOnExit": exit_rules(job_definition),
        },
        "propagateTags": True,
    }
    tags = unescape_document(job.get("tags") or {})
    if tags:
        request["tags"] = tags
    if job.get("timeout_seconds"):
        request["timeout"] = {"attemptDurationSeconds": job["timeout_seconds"]}
    return request
