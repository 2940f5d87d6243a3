"""A submitted job and its attempts, rendered as AWS's ``JobDetail`` / ``JobSummary``.

Plain data: the scheduler mutates it under the service lock, the API reads snapshots.

An array job is a parent ``Job`` with ``array`` (its size, its children and their
``statusSummary``) and N children ``<parent>:<index>`` with ``parent`` and
``array_index``. A child is an ordinary job that shares the parent's read-only parts
(container, retry strategy, timeout, parameters), so making 10,000 of them is cheap.
"""

from __future__ import annotations

import copy
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from overlord_local.localbatch.resources import JobDefinition, JobQueue

JsonDict = dict[str, Any]

STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
TERMINAL = frozenset({"SUCCEEDED", "FAILED"})
# Lists AWS always returns in a job's container block, even when empty.
_CONTAINER_LISTS = (
    "volumes",
    "environment",
    "mountPoints",
    "ulimits",
    "networkInterfaces",
    "resourceRequirements",
    "secrets",
)


def now_ms() -> int:
    return int(time.time() * 1000)


def merge_named(base: list[JsonDict], override: list[JsonDict], key: str) -> list[JsonDict]:
    """Merge two lists of dicts keyed by ``key``; entries of ``override`` win."""
    merged = {item[key]: dict(item) for item in base}
    merged.update({item[key]: dict(item) for item in override})
    return list(merged.values())


def build_container(definition: JobDefinition, overrides: JsonDict | None) -> JsonDict:
    """The job's container block: the definition's properties with SubmitJob's overrides."""
    container: JsonDict = copy.deepcopy(definition.body.get("containerProperties") or {})
    overrides = overrides or {}
    for key in ("command", "vcpus", "memory", "instanceType"):
        if key in overrides:
            container[key] = copy.deepcopy(overrides[key])
    container["environment"] = merge_named(
        container.get("environment") or [], overrides.get("environment") or [], "name"
    )
    container["resourceRequirements"] = merge_named(
        container.get("resourceRequirements") or [],
        overrides.get("resourceRequirements") or [],
        "type",
    )
    container.setdefault("image", "")
    container.setdefault("command", [])
    for key in _CONTAINER_LISTS:
        container.setdefault(key, [])
    return container


def requirement(container: JsonDict, kind: str) -> str | None:
    for item in container.get("resourceRequirements") or []:
        if item.get("type") == kind:
            return str(item["value"])
    return None


@dataclass
class Attempt:
    number: int
    log_stream_name: str
    task_arn: str
    started_at: int | None = None
    stopped_at: int | None = None
    exit_code: int | None = None
    reason: str | None = None
    status_reason: str | None = None

    def describe(self) -> JsonDict:
        container: JsonDict = {
            "taskArn": self.task_arn,
            "logStreamName": self.log_stream_name,
            "networkInterfaces": [],
        }
        if self.exit_code is not None:
            container["exitCode"] = self.exit_code
        if self.reason:
            container["reason"] = self.reason
        detail: JsonDict = {"container": container}
        if self.started_at is not None:
            detail["startedAt"] = self.started_at
        if self.stopped_at is not None:
            detail["stoppedAt"] = self.stopped_at
        if self.status_reason:
            detail["statusReason"] = self.status_reason
        return detail


@dataclass
class Job:
    batch_job_id: str
    arn: str
    name: str
    queue: JobQueue
    definition: JobDefinition
    container: JsonDict
    retry_strategy: JsonDict
    timeout: JsonDict | None
    tags: dict[str, str]
    parameters: dict[str, str]
    depends_on: list[JsonDict]
    propagate_tags: bool
    platform_capabilities: list[str]
    status: str = "SUBMITTED"
    status_reason: str | None = None
    created_at: int = field(default_factory=now_ms)
    started_at: int | None = None
    stopped_at: int | None = None
    attempts: list[Attempt] = field(default_factory=list)
    current: Attempt | None = None
    compute_environment: str | None = None
    is_cancelled: bool = False
    is_terminated: bool = False
    stop_reason: str | None = None  # set by TerminateJob (or shutdown) while the job runs
    # SubmitJob's containerOverrides as sent (what ECS's override limit is counted on).
    container_overrides: JsonDict = field(default_factory=dict)
    array: ArrayState | None = None  # set on an array parent
    parent: Job | None = None  # set on an array child
    array_index: int | None = None  # set on an array child
    # The parts of the detail fixed at SubmitJob, pickled once: a fresh copy for each
    # DescribeJobs/event is then ~15x cheaper than deepcopy (10,000 children × 5 events).
    _fixed: bytes | None = field(default=None, repr=False)

    def fixed_parts(self) -> tuple[JsonDict, JsonDict, list[JsonDict], JsonDict | None]:
        """Fresh copies of (container, retryStrategy, dependsOn, timeout)."""
        if self._fixed is None:
            self._fixed = pickle.dumps(
                (self.container, self.retry_strategy, self.depends_on, self.timeout),
                pickle.HIGHEST_PROTOCOL,
            )
        # Bytes this process pickled itself from JSON data, never input from outside.
        parts: tuple[JsonDict, JsonDict, list[JsonDict], JsonDict | None]
        parts = pickle.loads(self._fixed)  # noqa: S301
        return parts

    def make_children(self, size: int, arn_of: Callable[[str], str]) -> list[Job]:
        """Turn this job into an array parent of ``size`` children (all SUBMITTED)."""
        self.fixed_parts()
        children = [
            Job(
                batch_job_id=f"{self.batch_job_id}:{index}",
                arn=arn_of(f"{self.batch_job_id}:{index}"),
                name=self.name,
                queue=self.queue,
                definition=self.definition,
                container=self.container,
                retry_strategy=self.retry_strategy,
                timeout=self.timeout,
                tags=dict(self.tags),
                parameters=self.parameters,
                depends_on=self.depends_on,
                propagate_tags=self.propagate_tags,
                platform_capabilities=self.platform_capabilities,
                created_at=self.created_at,
                container_overrides=self.container_overrides,
                parent=self,
                array_index=index,
                _fixed=self._fixed,
            )
            for index in range(size)
        ]
        summary = dict.fromkeys(STATUSES, 0)
        summary["SUBMITTED"] = size
        self.array = ArrayState(size, children, summary, self.created_at)
        return children

    @property
    def vcpus(self) -> float:
        value = requirement(self.container, "VCPU")
        if value is not None:
            return float(value)
        return float(self.container.get("vcpus") or 1)

    @property
    def memory_mib(self) -> int | None:
        value = requirement(self.container, "MEMORY")
        if value is not None:
            return int(float(value))
        memory = self.container.get("memory")
        return int(memory) if memory else None

    @property
    def max_attempts(self) -> int:
        return max(1, min(10, int(self.retry_strategy.get("attempts") or 1)))

    @property
    def attempt_timeout(self) -> float | None:
        seconds = (self.timeout or {}).get("attemptDurationSeconds")
        return float(seconds) if seconds else None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def describe(self) -> JsonDict:
        """This job as DescribeJobs' ``JobDetail`` (and the event's ``detail``)."""
        container, retry_strategy, depends_on, timeout = self.fixed_parts()
        latest = self.current or (self.attempts[-1] if self.attempts else None)
        if latest is not None and latest.started_at is not None:
            container["logStreamName"] = latest.log_stream_name
            container["taskArn"] = latest.task_arn
            if latest.exit_code is not None:
                container["exitCode"] = latest.exit_code
            if latest.reason:
                container["reason"] = latest.reason
        detail: JsonDict = {
            "jobArn": self.arn,
            "jobName": self.name,
            "jobId": self.batch_job_id,
            "jobQueue": self.queue.arn,
            "status": self.status,
            "attempts": [a.describe() for a in self.attempts],
            "createdAt": self.created_at,
            "retryStrategy": retry_strategy,
            "dependsOn": depends_on,
            "jobDefinition": self.definition.arn,
            "parameters": dict(self.parameters),
            "container": container,
            "tags": dict(self.tags),
            "propagateTags": self.propagate_tags,
            "platformCapabilities": list(self.platform_capabilities),
            "isCancelled": self.is_cancelled,
            "isTerminated": self.is_terminated,
        }
        if self.status_reason:
            detail["statusReason"] = self.status_reason
        if self.started_at is not None:
            detail["startedAt"] = self.started_at
        if self.stopped_at is not None:
            detail["stoppedAt"] = self.stopped_at
        if timeout:
            detail["timeout"] = timeout
        if self.array is not None:
            detail["arrayProperties"] = self.array.describe()
        elif self.array_index is not None:
            detail["arrayProperties"] = {"index": self.array_index}
        return detail

    def summarize(self) -> JsonDict:
        """This job as ListJobs' ``JobSummary``."""
        summary: JsonDict = {
            "jobArn": self.arn,
            "jobId": self.batch_job_id,
            "jobName": self.name,
            "createdAt": self.created_at,
            "status": self.status,
            "jobDefinition": self.definition.arn,
            "isCancelled": self.is_cancelled,
            "isTerminated": self.is_terminated,
        }
        for key, value in (
            ("statusReason", self.status_reason),
            ("startedAt", self.started_at),
            ("stoppedAt", self.stopped_at),
        ):
            if value is not None:
                summary[key] = value
        latest = self.attempts[-1] if self.attempts else None
        if latest is not None and self.terminal:
            container: JsonDict = {}
            if latest.exit_code is not None:
                container["exitCode"] = latest.exit_code
            if latest.reason:
                container["reason"] = latest.reason
            summary["container"] = container
        if self.array is not None:
            summary["arrayProperties"] = self.array.describe()
        elif self.array_index is not None:
            summary["arrayProperties"] = {"index": self.array_index}
        return summary


@dataclass
class ArrayState:
    """An array parent's children and their count per status (kept as they move)."""

    size: int
    children: list[Job]
    summary: dict[str, int]
    summary_updated_at: int

    def moved(self, old: str, new: str) -> None:
        self.summary[old] -= 1
        self.summary[new] += 1
        self.summary_updated_at = now_ms()

    @property
    def done(self) -> bool:
        return self.summary["SUCCEEDED"] + self.summary["FAILED"] == self.size

    def describe(self) -> JsonDict:
        return {
            "size": self.size,
            "statusSummary": dict(self.summary),
            "statusSummaryLastUpdatedAt": self.summary_updated_at,
        }
