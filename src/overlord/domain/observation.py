"""What the recorder learns about a run, whatever told it (an event or DescribeJobs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from overlord.domain.schema import AttemptDocument


def from_epoch_ms(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, tz=UTC)


@dataclass(frozen=True)
class Attempt:
    number: int  # 1-based
    started_at: datetime | None
    stopped_at: datetime | None
    exit_code: int | None
    reason: str | None
    log_stream: str | None

    def as_document(self) -> AttemptDocument:
        return {
            "attempt": self.number,
            "started_at": self.started_at,
            "stopped_at": self.stopped_at,
            "exit_code": self.exit_code,
            "reason": self.reason,
            "log_stream": self.log_stream,
        }


@dataclass(frozen=True)
class RunObservation:
    batch_job_id: str
    job_id: str  # Batch's jobName: ours when it is a job ID (identity.is_job_id)
    status: str
    observed_at: datetime
    status_reason: str | None = None
    job_queue: str | None = None
    job_definition: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    attempts: tuple[Attempt, ...] = field(default_factory=tuple)
    log_stream: str | None = None  # the current (latest) attempt's stream
    # An array job's child: its parent's batch_job_id and its index.
    parent: str | None = None
    index: int | None = None
    # An array job's parent: its size and Batch's count of children by status.
    array_size: int | None = None
    status_summary: dict[str, int] | None = None
    status_summary_at: datetime | None = None

    @property
    def is_child(self) -> bool:
        return self.parent is not None

    @property
    def is_array_parent(self) -> bool:
        return self.array_size is not None

    def streams_by_attempt(self) -> dict[int, str]:
        """Log stream of each attempt; a job that never got an attempt may still name one."""
        streams = {a.number: a.log_stream for a in self.attempts if a.log_stream}
        if not streams and self.log_stream:
            streams[1] = self.log_stream
        return streams
