"""Configuration from the environment, with defaults that suit the local stack.

README, "Configuration", lists the variables.

Endpoints are not configured here: boto3 reads ``AWS_ENDPOINT_URL`` and
``AWS_ENDPOINT_URL_<SERVICE>`` itself, so one binary runs against AWS, LocalStack,
moto or the local Batch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from overlord_contracts.files import TASKS_DIR

BATCH_LOG_GROUP = "/aws/batch/job"  # where AWS Batch's awslogs driver writes by default


def _flag(value: str | None, default: bool) -> bool:
    if not value:
        return default
    if value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if value.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


@dataclass(frozen=True)
class Settings:
    """Every setting, its environment variable and its default: the one place for them."""

    # MONGODB_URI. It may carry a password: left out of repr, so that logging or raising
    # with the settings cannot print it.
    mongodb_uri: str | None = field(default=None, repr=False)
    mongodb_secret_arn: str | None = None  # MONGODB_SECRET_ARN, when MONGODB_URI is not set
    db_name: str = "overlord"  # DB_NAME
    job_queue: str = "overlord"  # JOB_QUEUE
    # JOB_DEFINITION_PREFIX: a task's registered job definition is this + its contract
    # name (overlord-<task>); Terraform registers them as overlord-<env>-overlord-<task>.
    job_definition_prefix: str = ""
    tasks_dir: Path = TASKS_DIR  # OVERLORD_TASKS_DIR: the task catalogue
    # IMAGE_TASKS: "false" where Batch cannot run container images (`make dev` runs jobs
    # as local processes): tasks that run an image are then refused with 400 before
    # anything is written, instead of a job that can only fail.
    image_tasks: bool = True
    results_bucket: str = "overlord-results"  # RESULTS_BUCKET
    log_level: str = "INFO"  # LOG_LEVEL
    log_group: str = BATCH_LOG_GROUP  # BATCH_LOG_GROUP
    reconcile_after_seconds: int = 900  # RECONCILE_AFTER_SECONDS
    # LOG_SETTLE_SECONDS: reconcile re-reads an ended run's log streams this long
    log_settle_seconds: int = 600
    # SUBMIT_RATE_PER_SECOND, SUBMIT_MAX_WAIT_SECONDS: each submitter process paces its
    # SubmitJob calls (AWS allows 50/s per account) and answers 503 + Retry-After when a
    # call would wait longer than this.
    submit_rate_per_second: float = 50.0
    submit_max_wait_seconds: float = 5.0
    # CONTAINER_OVERRIDES_BUDGET: characters of SubmitJob container overrides (JSON) we
    # may use; parameters that would not fit travel through S3. ECS's cap is 8,192
    # (submission.CONTAINER_OVERRIDES_CAP); 2,048 are left for Batch's own variables.
    container_overrides_budget: int = 6144

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        default = cls()
        return cls(
            mongodb_uri=env.get("MONGODB_URI") or None,
            mongodb_secret_arn=env.get("MONGODB_SECRET_ARN") or None,
            db_name=env.get("DB_NAME") or default.db_name,
            job_queue=env.get("JOB_QUEUE") or default.job_queue,
            job_definition_prefix=env.get("JOB_DEFINITION_PREFIX", default.job_definition_prefix),
            tasks_dir=Path(env.get("OVERLORD_TASKS_DIR") or default.tasks_dir),
            image_tasks=_flag(env.get("IMAGE_TASKS"), default.image_tasks),
            results_bucket=env.get("RESULTS_BUCKET") or default.results_bucket,
            log_level=env.get("LOG_LEVEL") or default.log_level,
            log_group=env.get("BATCH_LOG_GROUP") or default.log_group,
            reconcile_after_seconds=int(
                env.get("RECONCILE_AFTER_SECONDS") or default.reconcile_after_seconds
            ),
            submit_rate_per_second=float(
                env.get("SUBMIT_RATE_PER_SECOND") or default.submit_rate_per_second
            ),
            submit_max_wait_seconds=float(
                env.get("SUBMIT_MAX_WAIT_SECONDS") or default.submit_max_wait_seconds
            ),
            log_settle_seconds=int(env.get("LOG_SETTLE_SECONDS") or default.log_settle_seconds),
            container_overrides_budget=int(
                env.get("CONTAINER_OVERRIDES_BUDGET") or default.container_overrides_budget
            ),
        )
