"""The worker's environment: what a job's container is given, and how the worker reads it.

The submitter writes it (as SubmitJob container overrides), AWS Batch adds its own
variables, the worker reads it: one module for all three. Each of our variables is
``OVERLORD_`` + the name the value has everywhere else (job_id → OVERLORD_JOB_ID).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

JOB_ID = "OVERLORD_JOB_ID"
TASK = "OVERLORD_TASK"
PARAMETERS = "OVERLORD_PARAMETERS"  # the parameters as JSON, when small enough
PARAMETERS_URI = "OVERLORD_PARAMETERS_URI"  # else an s3:// URI of that JSON
RESULTS_BUCKET = "RESULTS_BUCKET"  # set on the job definition
# Set by AWS Batch (and the local Batch) in every job's container.
BATCH_JOB_ID = "AWS_BATCH_JOB_ID"
BATCH_JOB_ATTEMPT = "AWS_BATCH_JOB_ATTEMPT"


def job_environment(
    job_id: str, task: str, *, parameters: str | None = None, parameters_uri: str | None = None
) -> dict[str, str]:
    """The variables the submitter sets for one job (exactly one of the two parameter forms)."""
    if (parameters is None) == (parameters_uri is None):
        raise ValueError("give the parameters inline or as a URI, not both or neither")
    env = {JOB_ID: job_id, TASK: task}
    if parameters is not None:
        env[PARAMETERS] = parameters
    else:
        env[PARAMETERS_URI] = str(parameters_uri)
    return env


@dataclass(frozen=True)
class WorkerEnvironment:
    job_id: str
    task: str
    parameters: str | None
    parameters_uri: str | None
    results_bucket: str | None
    batch_job_id: str
    attempt: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WorkerEnvironment:
        attempt = env.get(BATCH_JOB_ATTEMPT, "1")
        return cls(
            job_id=env.get(JOB_ID, ""),
            task=env.get(TASK, ""),
            parameters=env.get(PARAMETERS),
            parameters_uri=env.get(PARAMETERS_URI) or None,
            results_bucket=env.get(RESULTS_BUCKET) or None,
            batch_job_id=env.get(BATCH_JOB_ID, "local"),
            attempt=int(attempt) if attempt.isdigit() else 1,
        )
