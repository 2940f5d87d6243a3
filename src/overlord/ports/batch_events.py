"""The `Batch Job State Change` event and DescribeJobs' JobDetail, in one place.

The event's `detail` has the shape of DescribeJobs' JobDetail, so the reconcile
handler feeds DescribeJobs output through the same model and the same transition
code. Models accept unknown fields: AWS says Batch events may grow new ones.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field

from overlord.domain.observation import Attempt, RunObservation, from_epoch_ms
from overlord.domain.status import RunStatus, is_terminal

DETAIL_TYPE = "Batch Job State Change"
SOURCE = "aws.batch"


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class AttemptContainer(_Lenient):
    exit_code: int | None = Field(None, alias="exitCode")
    reason: str | None = None
    log_stream_name: str | None = Field(None, alias="logStreamName")


class AttemptDetail(_Lenient):
    container: AttemptContainer = Field(default_factory=lambda: AttemptContainer())
    started_at: int | None = Field(None, alias="startedAt")
    stopped_at: int | None = Field(None, alias="stoppedAt")
    status_reason: str | None = Field(None, alias="statusReason")


class ContainerDetail(_Lenient):
    exit_code: int | None = Field(None, alias="exitCode")
    reason: str | None = None
    log_stream_name: str | None = Field(None, alias="logStreamName")


class ArrayPropertiesDetail(_Lenient):
    """A parent's `size` and `statusSummary`, or a child's `index` (never both)."""

    size: int | None = None
    index: int | None = None
    status_summary: dict[str, int] | None = Field(None, alias="statusSummary")
    status_summary_at: int | None = Field(None, alias="statusSummaryLastUpdatedAt")


class BatchJobDetail(_Lenient):
    batch_job_id: str = Field(alias="jobId")
    job_name: str = Field(alias="jobName")  # our job_id, for the jobs we submit
    job_queue: str | None = Field(None, alias="jobQueue")
    job_definition: str | None = Field(None, alias="jobDefinition")
    status: str
    status_reason: str | None = Field(None, alias="statusReason")
    created_at: int | None = Field(None, alias="createdAt")
    started_at: int | None = Field(None, alias="startedAt")
    stopped_at: int | None = Field(None, alias="stoppedAt")
    attempts: list[AttemptDetail] = Field(default_factory=list)
    container: ContainerDetail | None = None
    array_properties: ArrayPropertiesDetail | None = Field(None, alias="arrayProperties")


class BatchJobStateChange(EventBridgeModel):
    """The whole EventBridge event, with a typed detail."""

    detail: BatchJobDetail


def observe(detail: BatchJobDetail, observed_at: datetime) -> RunObservation:
    attempts = tuple(
        Attempt(
            number=i,
            started_at=from_epoch_ms(a.started_at),
            stopped_at=from_epoch_ms(a.stopped_at),
            exit_code=a.container.exit_code,
            reason=a.container.reason or a.status_reason,
            log_stream=a.container.log_stream_name,
        )
        for i, a in enumerate(detail.attempts, start=1)
    )
    array = detail.array_properties or ArrayPropertiesDetail()
    parent, _, suffix = detail.batch_job_id.rpartition(":")
    if array.index is None and parent and suffix.isdigit():
        # AWS documents a child's ID as `<parent>:<index>`; a detail that leaves out
        # arrayProperties (moto's does) is still a child's.
        array = array.model_copy(update={"index": int(suffix)})
    child = array.index is not None
    return RunObservation(
        batch_job_id=detail.batch_job_id,
        job_id=detail.job_name,
        status=detail.status,
        observed_at=observed_at,
        status_reason=detail.status_reason,
        job_queue=detail.job_queue,
        job_definition=detail.job_definition,
        created_at=from_epoch_ms(detail.created_at),
        started_at=from_epoch_ms(detail.started_at),
        stopped_at=from_epoch_ms(detail.stopped_at),
        attempts=attempts,
        log_stream=detail.container.log_stream_name if detail.container else None,
        parent=parent if child else None,
        index=array.index,
        array_size=None if child else array.size,
        status_summary=None if child or array.size is None else array.status_summary,
        status_summary_at=None if child else from_epoch_ms(array.status_summary_at),
    )


def observe_described(detail: BatchJobDetail, now: datetime) -> RunObservation:
    """DescribeJobs' answer as an observation, dated when Batch says the status was
    reached where it says so (reconcile may run long after)."""
    obs = observe(detail, now)
    when = None
    if is_terminal(obs.status):
        when = obs.stopped_at
    elif obs.status == RunStatus.RUNNING:
        when = obs.started_at
    return replace(obs, observed_at=when) if when else obs
