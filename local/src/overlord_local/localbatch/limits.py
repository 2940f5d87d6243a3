"""AWS Batch's limits on SubmitJob (and job definitions), enforced where AWS enforces them.

Refused by SubmitJob itself, ``ClientException`` (HTTP 400), nothing created:

* the request body over 30 KiB (the "maximum job payload size" service quota; AWS
  answers "Job size must be less than 30 KiB, got 47 KiB"),
* ``jobName`` not matching ``[A-Za-z0-9][A-Za-z0-9_-]{0,127}`` ("Job name should match
  valid pattern"),
* more than 50 tags,
* ``timeout.attemptDurationSeconds`` under 60 (also in RegisterJobDefinition); the local
  ``timeout_scale`` applies afterwards, to a value that passed this check,
* ``arrayProperties.size`` outside 2–10,000 (a size in range makes an array job,
  ``scheduler``).

Not refused by SubmitJob: container overrides over 8,192 characters. That limit is
ECS's (RunTask), and AWS Batch only meets it when it places the job, so on AWS the
SubmitJob succeeds and the job goes RUNNABLE → FAILED with the status reason
"Container Overrides length must be at most 8192" and no attempt. The local Batch does
the same (``scheduler``). What is counted is ``ecs_container_overrides``: the compact
JSON of the override Batch sends ECS for the job's container — its name, the resolved
command, the SubmitJob ``containerOverrides.environment`` **plus the variables Batch
adds itself** (``AWS_BATCH_JOB_ID``, ``AWS_BATCH_JQ_NAME``, ``AWS_BATCH_CE_NAME``,
``AWS_BATCH_JOB_ATTEMPT``), and any overridden ``resourceRequirements``. AWS does not
publish the exact document it sends, so this is a close, slightly conservative model:
keep a job's own overrides well below the limit (a few hundred characters of margin).

Not refused by SubmitJob either: with ``propagateTags``, more than 50 tags of the job
and its job definition together (a job tag replaces the definition's of the same key).
AWS's SubmitJob reference: "If the total number of combined tags from the job and job
definition is over 50, the job is moved to the FAILED state". The local Batch fails it
where it would start, like the overrides (``propagated_tags_problem``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from overlord_local.localbatch.errors import ClientException

JsonDict = dict[str, Any]

MAX_SUBMIT_BYTES = 30 * 1024
MAX_CONTAINER_OVERRIDES = 8192
OVERRIDES_TOO_LONG = f"Container Overrides length must be at most {MAX_CONTAINER_OVERRIDES}"
JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
MAX_TAGS = 50
MIN_ATTEMPT_SECONDS = 60
ARRAY_SIZES = range(2, 10_001)
# The name of the single container AWS Batch puts in a job's ECS task (it shows in the
# log stream name <definition>/default/<task id>).
CONTAINER_NAME = "default"
_PREFIX = "Error executing request, Exception : "


def check_submit_size(size: int) -> None:
    if size > MAX_SUBMIT_BYTES:
        got = math.ceil(size / 1024)
        raise ClientException(f"{_PREFIX}Job size must be less than 30 KiB, got {got} KiB")


def check_job_name(name: Any) -> None:
    if not isinstance(name, str) or not JOB_NAME.fullmatch(name):
        raise ClientException(
            f"{_PREFIX}Job name should match valid pattern "
            "(1-128 letters, digits, hyphens or underscores, starting with a letter or digit)"
        )


def check_tags(tags: Mapping[str, Any] | None) -> None:
    if tags and len(tags) > MAX_TAGS:
        raise ClientException(
            f"{_PREFIX}Too many tags: {len(tags)} given, a resource can have at most {MAX_TAGS}"
        )


def propagated_tags_problem(
    job_tags: Mapping[str, Any], definition_tags: Mapping[str, Any], propagate: bool
) -> str | None:
    """The status reason of a job whose propagated tags exceed 50, else None."""
    if not propagate:
        return None
    combined = len({**definition_tags, **job_tags})
    if combined <= MAX_TAGS:
        return None
    return (
        f"{_PREFIX}Too many tags to propagate: the job's and its job definition's come to "
        f"{combined}, more than {MAX_TAGS}"
    )


def check_timeout(timeout: Mapping[str, Any] | None) -> None:
    seconds = (timeout or {}).get("attemptDurationSeconds")
    if seconds is not None and (not isinstance(seconds, int) or seconds < MIN_ATTEMPT_SECONDS):
        raise ClientException(
            f"{_PREFIX}timeout.attemptDurationSeconds must be at least "
            f"{MIN_ATTEMPT_SECONDS} seconds, got {seconds}"
        )


def check_array(array_properties: Mapping[str, Any] | None) -> int | None:
    """The array size asked for (None: not an array job)."""
    size = (array_properties or {}).get("size")
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size not in ARRAY_SIZES:
        raise ClientException(
            f"{_PREFIX}arrayProperties.size must be between 2 and 10000, got {size}"
        )
    return size


def ecs_container_overrides(
    overrides: Mapping[str, Any] | None,
    *,
    command: list[str],
    batch_variables: Mapping[str, str],
) -> str:
    """The container override ECS would receive for one attempt, as compact JSON."""
    overrides = overrides or {}
    environment = [
        {"name": str(item.get("name")), "value": str(item.get("value", ""))}
        for item in overrides.get("environment") or []
    ]
    environment += [{"name": k, "value": v} for k, v in batch_variables.items()]
    document: JsonDict = {"name": CONTAINER_NAME, "command": list(command)}
    document["environment"] = environment
    if overrides.get("resourceRequirements"):
        document["resourceRequirements"] = list(overrides["resourceRequirements"])
    return json.dumps([document], separators=(",", ":"), ensure_ascii=False)
