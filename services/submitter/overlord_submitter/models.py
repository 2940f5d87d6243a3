"""The API's shapes as pydantic models: what the handler's routes take and answer.

The OpenAPI document (GET /openapi.json) is generated from these and from the routes'
annotations; the responses are the views of `overlord.domain.views`, which these describe
(extra fields allowed, so a field added to a document is not a breaking change).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from overlord.domain.schema import LogKind
from overlord.domain.status import JOB_STATUSES

# From status.py's list, the one place the statuses are named.
JobStatus = StrEnum("JobStatus", {s: s for s in JOB_STATUSES})  # type: ignore[misc]
_KINDS = (LogKind.SUBMISSION, LogKind.STATE, LogKind.LOG, LogKind.RESULT)
LogKindName = StrEnum("LogKindName", {k: k for k in _KINDS})  # type: ignore[misc]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class CancelBody(BaseModel):
    """POST /jobs/{job_id}/cancel (the body is optional)."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(
        None, min_length=1, max_length=1024, description="sent to Batch and kept on the run"
    )


class RunBody(BaseModel):
    """POST /jobs/{job_id}/runs (the body is optional: without it, every item runs)."""

    model_config = ConfigDict(extra="forbid")

    only: Literal["failed"] | None = Field(
        None,
        description=(
            "an array job: re-run only the items whose latest outcome is FAILED (a new "
            "run of those items; GET /jobs/{id} then counts each item by its latest run)"
        ),
    )


class ResultSummary(_Open):
    uri: str
    size: int
    summary: Any = None
    truncated: bool | None = None
    error: str | None = None


class LatestRunRef(_Open):
    batch_job_id: str
    run: int
    status: str


class StatusAt(BaseModel):
    status: str
    at: str = Field(description="ISO 8601, UTC")


class Attempt(_Open):
    attempt: int
    started_at: str | None
    stopped_at: str | None
    exit_code: int | None
    reason: str | None
    log_stream: str | None


class CancelInfo(_Open):
    at: str
    by: str | None
    reason: str
    action: Literal["CancelJob", "TerminateJob"]


class ArrayRun(_Open):
    """An array run's size and Batch's last count of its children (statusSummary)."""

    size: int
    status_summary: dict[str, int] | None = None
    status_summary_at: str | None = None


class Run(_Open):
    batch_job_id: str
    job_id: str
    run: int | None
    status: str | None
    status_reason: str | None
    status_history: list[StatusAt]
    attempts: list[Attempt]
    log_stream: str | None = Field(
        None, description="the current attempt's log stream (its lines are live until copied)"
    )
    created_at: str
    started_at: str | None
    stopped_at: str | None
    updated_at: str
    result_uri: str | None
    result: ResultSummary | None
    cancel: CancelInfo | None = None
    array: ArrayRun | None = Field(None, description="an array job's run (the parent)")
    parent: str | None = Field(None, description="a child: its parent run's batch_job_id")
    index: int | None = Field(None, description="a child: its index in the items")


class Job(_Open):
    job_id: str
    task: str
    parameters: dict[str, Any] | None = Field(description="null for an array job")
    items_count: int | None = Field(None, description="an array job: how many items (children)")
    key: str | None
    tags: dict[str, str]
    attempts: int
    timeout_seconds: int | None
    status: JobStatus
    status_reason: str | None
    created_at: str
    updated_at: str
    run_count: int
    result: ResultSummary | None
    created_by: str | None = None


class ArraySummary(BaseModel):
    size: int
    counts: dict[str, int] = Field(
        description="children of the latest run by status (not heard of yet: SUBMITTED)"
    )
    failed_indices: list[int]
    statuses: list[str] | None = Field(
        None, description="with ?children=true: each item's latest status, by index"
    )


class ChildPending(BaseModel):
    """A child no event has told us of yet."""

    batch_job_id: str | None
    index: int
    status: None


class JobWithRun(Job):
    latest_run: Run | LatestRunRef | None
    array: ArraySummary | None = Field(None, description="an array job")
    child: Run | ChildPending | None = Field(None, description="with ?index=: that child")


class JobSummary(Job):
    latest_run: LatestRunRef | None


class JobPage(BaseModel):
    jobs: list[JobSummary]
    next: str | None = Field(description="pass as `cursor` for the next page; null at the end")


class RunList(BaseModel):
    job_id: str
    runs: list[Run]


class LogLine(_Open):
    job_id: str
    batch_job_id: str
    run: int | None
    attempt: int
    kind: LogKindName
    seq: int
    ts: str
    message: str
    status: str | None = None
    truncated: bool | None = None


class LogPage(BaseModel):
    job_id: str
    lines: list[LogLine]
    next: str | None = Field(description="pass as `cursor` for more lines now; null at the end")
    resume: str | None = Field(
        description="pass as `cursor` later for lines not there yet (following a job)"
    )


class Submitted(BaseModel):
    job_id: str
    batch_job_id: str | None
    run: int | None
    status: JobStatus
    created: bool = Field(description="true: this request submitted the job to Batch")


class CancelAccepted(BaseModel):
    job_id: str
    batch_job_id: str
    run: int
    action: Literal["CancelJob", "TerminateJob"]
    reason: str


class Health(BaseModel):
    status: Literal["ok"]


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details: every error of every route has this shape."""

    type: str = Field(description="a URI naming the kind of problem")
    title: str
    status: int
    detail: str = Field(description="starts with the field at fault, when there is one")
    errors: list[FieldProblem] | None = Field(None, description="validation errors, by field")


class Task(_Open):
    """A task of the catalogue (contracts/tasks/<name>.json)."""

    name: str
    description: str
    parameters: dict[str, Any] = Field(description="JSON Schema (draft 2020-12)")
    runs: dict[str, Any] = Field(description='{"python": …} or {"image": …, "command": […]}')
    vcpus: float
    memory: int = Field(description="MiB")
    timeout_seconds: int
    attempts: int
    no_retry_exit_codes: list[int]


class TaskList(_Open):
    tasks: list[Task]
