"""What the services need from the outside world, typed, and the values they exchange.

Adapters (`overlord.adapters`) implement these against MongoDB, AWS Batch, S3 and
CloudWatch Logs; the unit tests implement them in memory (`tests/unit/fakes.py`).
A service imports the domain and this module, never a driver.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    # Annotations only: importing them here would cost every importer of the ports'
    # values (the worker's S3 adapter, in each array child) Powertools' event models.
    from overlord.domain.observation import RunObservation
    from overlord.domain.schema import (
        CancelRequest,
        ItemsDocument,
        JobDocument,
        LogDocument,
        ResultSummary,
        RunDocument,
    )
    from overlord.domain.submission import SubmitRequest
    from overlord.ports.batch_events import BatchJobDetail

# ------------------------------------------------------------------ values


@dataclass(frozen=True)
class ClaimResult:
    job: JobDocument  # as it was before this claim (a job taken over still shows its old state)
    claimed: bool  # this caller holds the claim and must submit the job to Batch
    taken_over: bool = False  # an earlier submission failed or lapsed: Batch may hold its job


@dataclass(frozen=True)
class Applied:
    """What applying one observation did."""

    known: bool  # False: no such job in `jobs`; nothing was written
    moved: bool = False  # the run's status moved forward
    reached_at: datetime | None = None  # when the run reached this status; None: it never did


@dataclass(frozen=True)
class TerminalCopy:
    """What a terminal observation brings along, written with the status in one update."""

    result: ResultSummary | None
    logs_copied: bool


@dataclass(frozen=True)
class BatchJobRef:
    """A Batch job found by name (ListJobs' summary)."""

    batch_job_id: str
    created_at_ms: int
    status: str


@dataclass(frozen=True, order=True)
class ChildState:
    """One recorded child of an array run."""

    index: int
    status: str | None


@dataclass(frozen=True)
class CappedObject:
    uri: str
    size: int
    body: bytes | None  # None when larger than the cap


@dataclass(frozen=True)
class LogLine:
    ts: datetime
    message: str


@dataclass(frozen=True)
class StreamRead:
    lines: list[LogLine]
    truncated: bool
    bytes_read: int


@dataclass(frozen=True)
class JobFilter:
    """What GET /jobs may select on; every field given must match."""

    status: str | None = None
    task: str | None = None
    tags: tuple[tuple[str, str], ...] = ()  # (key, value) pairs, original (unescaped) names
    created_after: datetime | None = None  # exclusive
    created_before: datetime | None = None  # exclusive


@dataclass(frozen=True)
class JobKey:
    """A job's place in the newest-first order: the keyset a page continues after."""

    created_at: datetime
    job_id: str


@dataclass(frozen=True)
class LogFilter:
    attempt: int | None = None
    kinds: tuple[str, ...] = ()


@dataclass(frozen=True)
class LogKey:
    """A line's place within its run's reading order (schema.LogPhase, attempt, seq)."""

    phase: int
    attempt: int
    seq: int


# ------------------------------------------------------------------- ports


class Store(Protocol):
    """`jobs`, `runs` and `logs`. Raises errors.StoreUnavailable when MongoDB cannot be
    reached after the adapter's own retries."""

    def claim_job(
        self, job: JobDocument, owner: str, now: datetime, lease: timedelta
    ) -> ClaimResult: ...

    def claim_new_run(
        self,
        job_id: str,
        owner: str,
        now: datetime,
        lease: timedelta,
        selection: list[int] | None = None,
    ) -> JobDocument | None:
        """Claim a finished job for another run (of the `selection` of its items, or all),
        returned as it was; None while a run is in flight."""
        ...

    def mark_submit_failed(
        self, job_id: str, reason: str, now: datetime, owner: str | None = None
    ) -> None:
        """Release the claim `owner` holds (None: any claim) as SUBMIT_FAILED."""
        ...

    def hold_claim(
        self, job_id: str, owner: str, until: datetime, reason: str, now: datetime
    ) -> None:
        """Keep the claim `owner` holds until `until` (the job stays SUBMITTING), with
        why: its SubmitJob's outcome is unknown (errors.SubmitOutcomeUnknown)."""
        ...

    def get_job(self, job_id: str) -> JobDocument | None: ...

    def save_items(self, items: ItemsDocument) -> None:
        """Store an array job's items; the same job's items again change nothing."""
        ...

    def get_items(self, job_id: str) -> ItemsDocument | None: ...

    def stale_jobs(
        self, statuses: Sequence[str], cutoff: datetime, limit: int
    ) -> list[JobDocument]: ...

    def mark_reconciled(self, job_ids: Sequence[str], now: datetime) -> None: ...

    def failed_submissions(self, cutoff: datetime, limit: int) -> list[JobDocument]:
        """SUBMIT_FAILED jobs failed before `cutoff` and not reconciled since."""
        ...

    def mark_failures_seen(self, jobs: Sequence[JobDocument], now: datetime) -> None:
        """Reconcile has looked at these failed submissions (as `failed_submissions`
        read them): each is marked only if it is still that failure (`submit_failures`
        as read), not one written since: a client's retry may have taken the job and
        failed again meanwhile, within the same millisecond too."""
        ...

    def record_submitted_run(self, run: RunDocument, now: datetime) -> None: ...

    def apply_observation(
        self, obs: RunObservation, now: datetime, copy: TerminalCopy | None = None
    ) -> Applied: ...

    def apply_observations(
        self, batch: Sequence[tuple[RunObservation, TerminalCopy | None]], now: datetime
    ) -> list[Applied]:
        """`apply_observation` for each, in order, written together (one write per
        collection in the usual case); one `Applied` per observation."""
        ...

    def get_run(self, batch_job_id: str) -> RunDocument | None: ...

    def unsettled_runs(self, limit: int) -> list[RunDocument]: ...

    def mark_logs_settled(self, batch_job_ids: Sequence[str]) -> None: ...

    def list_runs(self, job_id: str) -> list[RunDocument]:
        """The job's own runs (an array run's children are not among them)."""
        ...

    def children(self, parent: str, status: str | None = None) -> list[ChildState]:
        """An array run's children recorded so far (only those in `status`, if given), by
        index."""
        ...

    def count_children(self, parent: str) -> dict[str, int]:
        """How many of an array run's recorded children are in each status (a status
        none is in is left out); without reading the children where the database can."""
        ...

    def complete_array(self, parent: str, now: datetime) -> bool:
        """End the job of an ended array run whose children have all ended (recounted);
        True if it is (now) ended."""
        ...

    def append_logs(self, lines: Sequence[LogDocument]) -> int:
        """New lines only (unique on their identity); of two state lines for one status,
        the earlier stays."""
        ...

    def list_jobs(self, where: JobFilter, after: JobKey | None, limit: int) -> list[JobDocument]:
        """Newest first (created_at, then job_id, descending), strictly after `after`."""
        ...

    def list_logs(
        self, batch_job_id: str, where: LogFilter, after: LogKey | None, limit: int
    ) -> list[LogDocument]:
        """One run's lines in reading order (phase, attempt, seq), strictly after `after`."""
        ...

    def list_logs_from(
        self, batch_job_id: str, attempt: int | None, starts: Mapping[int, int], limit: int
    ) -> list[LogDocument]:
        """One run's `log` lines in reading order, of each attempt (or of `attempt`) from
        seq `starts[attempt]` (0 for an attempt not in `starts`)."""
        ...

    def record_cancel(self, batch_job_id: str, cancel: CancelRequest) -> None: ...

    def clear_cancel(self, batch_job_id: str) -> None:
        """Batch refused the cancel that record_cancel announced."""
        ...

    def ping(self) -> None: ...


class Batch(Protocol):
    """Our job queue in AWS Batch. submit raises errors.BatchRejected (Batch said no),
    errors.BatchThrottled (try later) or errors.BatchUnavailable (unknown outcome)."""

    def submit(self, request: SubmitRequest) -> str: ...

    def find_by_name(self, job_name: str) -> list[BatchJobRef]: ...

    def describe(self, batch_job_ids: Sequence[str]) -> list[BatchJobDetail]: ...

    def list_children(self, parent: str, status: str) -> list[str]:
        """The batch_job_ids of an array job's children in `status` (ListJobs by arrayJobId)."""
        ...

    def cancel(self, batch_job_id: str, reason: str) -> None:
        """CancelJob: for a job that has not reached STARTING."""
        ...

    def terminate(self, batch_job_id: str, reason: str) -> None:
        """TerminateJob: also stops a STARTING or RUNNING job."""
        ...


class Objects(Protocol):
    """The results bucket."""

    def put_text(self, key: str, text: str) -> str: ...

    def put_bytes(self, key: str, data: bytes) -> str: ...

    def get_capped(self, key: str, cap: int) -> CappedObject | None: ...


class LogStreams(Protocol):
    """The Batch log group in CloudWatch Logs."""

    def read(self, stream: str, max_lines: int, max_bytes: int) -> StreamRead: ...
