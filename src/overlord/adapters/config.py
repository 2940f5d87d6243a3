"""Configuration from the environment, with defaults that suit the local stack.

README, "Configuration", lists the variables.

Endpoints are not configured here: boto3 reads ``AWS_ENDPOINT_URL`` and
``AWS_ENDPOINT_URL_<SERVICE>`` itself, so one binary runs against AWS, LocalStack,
moto or the local Batch.
"""

from __future__ import annotations

import json
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


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    """A whole number >= 1 from ``env[name]``; a bad value names the variable."""
    value = env.get(name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{name}: expected a whole number, got {value!r}") from None
    if number < 1:
        raise ValueError(f"{name}: expected a number >= 1, got {number}")
    return number


def _names(value: str | None, variable: str) -> frozenset[str] | None:
    """A JSON list of names; None when the variable is unset."""
    if value is None:
        return None
    try:
        names = json.loads(value)
    except ValueError:
        names = None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f'{variable}: expected a JSON list of task names, e.g. ["wordcount"]')
    return frozenset(names)


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
    # TASK_IMAGES: a JSON list of the image tasks this deployment has an image for
    # (Terraform: its task_images, which deploy.sh's ECR pushes fill). Unset (the local
    # stacks): every image task runs the image its catalogue file names. On AWS that
    # name (overlord-wordcount:dev) would be pulled from Docker Hub and the job fail
    # after its 202, so the others are refused with 400.
    task_images: frozenset[str] | None = None
    results_bucket: str = "overlord-results"  # RESULTS_BUCKET
    # OVERLORD_DEPLOYMENT: the value of the OverlordDeployment tag on every job submitted
    # (Terraform: overlord-<env>); the submitter's IAM policy cancels only jobs with it.
    deployment: str = "overlord"
    # JOB_DEFINITION_TAG_COUNT: tags each job definition carries (Terraform: the
    # deployment's tags). Batch fails a job whose tags and its definition's exceed 50,
    # so a request's own tags are capped at 50 - this - 1 (the OverlordDeployment tag).
    definition_tag_count: int = 0
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
    # BATCH_LIST_DELAY_SECONDS: how long ListJobs may take to list a job just created
    # (AWS promises no bound; it is eventually consistent). After a SubmitJob whose
    # answer was lost, the job's claim is held this long before anyone looks for it by
    # name. The local Batch lists at once: the local stacks set a few seconds.
    batch_list_delay_seconds: int = 60
    # CONTAINER_OVERRIDES_BUDGET: characters of SubmitJob container overrides (JSON) we
    # may use; parameters that would not fit travel through S3. ECS's cap is 8,192
    # (submission.CONTAINER_OVERRIDES_CAP); 2,048 are left for Batch's own variables.
    container_overrides_budget: int = 6144
    # The MongoDB connection budget (docs/operations.md, "MongoDB connections"): each
    # process holds one client with at most MONGODB_MAX_POOL_SIZE pooled connections
    # to the primary (plus pymongo's two monitoring connections per replica-set
    # member). A Lambda serves one request at a time: Terraform sets 2 there; the
    # local stack runs several handlers on threads of one process, hence 10 here.
    mongodb_max_pool_size: int = 10
    # MONGODB_MAX_IDLE_TIME_MS: a pooled connection unused this long is closed, so a
    # burst's connections do not outlive it in warm environments.
    mongodb_max_idle_time_ms: int = 60_000
    # MONGODB_CONNECT_TIMEOUT_MS, MONGODB_SERVER_SELECTION_TIMEOUT_MS: fail well inside
    # a Lambda's timeout, so that the invocation reports the failure and is retried.
    mongodb_connect_timeout_ms: int = 5_000
    mongodb_server_selection_timeout_ms: int = 5_000
    # Metrics (docs/operations.md): CloudWatch namespace METRICS_NAMESPACE, and the two
    # dimensions every metric carries, OVERLORD_SERVICE and OVERLORD_ENVIRONMENT (one
    # service for all three functions, so that an alarm names a metric without knowing
    # which function emits it).
    metrics_namespace: str = "Overlord"
    service: str = "overlord"
    environment: str = "local"

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
            task_images=_names(env.get("TASK_IMAGES"), "TASK_IMAGES"),
            results_bucket=env.get("RESULTS_BUCKET") or default.results_bucket,
            deployment=env.get("OVERLORD_DEPLOYMENT") or default.deployment,
            definition_tag_count=int(
                env.get("JOB_DEFINITION_TAG_COUNT") or default.definition_tag_count
            ),
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
            batch_list_delay_seconds=int(
                env.get("BATCH_LIST_DELAY_SECONDS") or default.batch_list_delay_seconds
            ),
            log_settle_seconds=int(env.get("LOG_SETTLE_SECONDS") or default.log_settle_seconds),
            container_overrides_budget=int(
                env.get("CONTAINER_OVERRIDES_BUDGET") or default.container_overrides_budget
            ),
            mongodb_max_pool_size=_positive_int(
                env, "MONGODB_MAX_POOL_SIZE", default.mongodb_max_pool_size
            ),
            mongodb_max_idle_time_ms=_positive_int(
                env, "MONGODB_MAX_IDLE_TIME_MS", default.mongodb_max_idle_time_ms
            ),
            mongodb_connect_timeout_ms=_positive_int(
                env, "MONGODB_CONNECT_TIMEOUT_MS", default.mongodb_connect_timeout_ms
            ),
            mongodb_server_selection_timeout_ms=_positive_int(
                env,
                "MONGODB_SERVER_SELECTION_TIMEOUT_MS",
                default.mongodb_server_selection_timeout_ms,
            ),
            metrics_namespace=env.get("METRICS_NAMESPACE") or default.metrics_namespace,
            service=env.get("OVERLORD_SERVICE") or default.service,
            environment=env.get("OVERLORD_ENVIRONMENT") or default.environment,
        )
