"""Configuration from the environment (DESIGN §4), with defaults that suit the local stack.

Endpoints are not configured here: boto3 reads ``AWS_ENDPOINT_URL`` and
``AWS_ENDPOINT_URL_<SERVICE>`` itself, so one binary runs against AWS, LocalStack,
moto or the local Batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _contracts_dir() -> Path:
    """The shared contract files: package data in a built wheel (the images), else the
    repository's top-level ``contracts/`` (an editable install)."""
    packaged = Path(__file__).parent / "contracts"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "contracts"


CONTRACTS_DIR = _contracts_dir()
JOB_DEFINITIONS_FILE = CONTRACTS_DIR / "job-definitions.json"

BATCH_LOG_GROUP = "/aws/batch/job"  # where AWS Batch's awslogs driver writes by default


@dataclass(frozen=True)
class Settings:
    mongodb_uri: str | None
    mongodb_secret_arn: str | None
    db_name: str
    job_queue: str
    job_definition: str
    results_bucket: str
    log_level: str
    log_group: str
    reconcile_after_seconds: int
    inline_parameters_limit: int

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            mongodb_uri=env.get("MONGODB_URI") or None,
            mongodb_secret_arn=env.get("MONGODB_SECRET_ARN") or None,
            db_name=env.get("DB_NAME", "overlord"),
            job_queue=env.get("JOB_QUEUE", "overlord"),
            job_definition=env.get("JOB_DEFINITION", "overlord-worker"),
            results_bucket=env.get("RESULTS_BUCKET", "overlord-results"),
            log_level=env.get("LOG_LEVEL", "INFO"),
            log_group=env.get("BATCH_LOG_GROUP", BATCH_LOG_GROUP),
            reconcile_after_seconds=int(env.get("RECONCILE_AFTER_SECONDS", "900")),
            # Batch caps containerOverrides; larger parameters travel through S3.
            inline_parameters_limit=int(env.get("INLINE_PARAMETERS_LIMIT", str(16 * 1024))),
        )
