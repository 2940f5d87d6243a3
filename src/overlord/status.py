"""The one place that knows the order of run statuses.

A run's status only moves forward along ``RUN_STATUS_ORDER``; SUCCEEDED and FAILED
share the final rank, so whichever terminal status is recorded first stays.
Job-level statuses add the two states that exist before Batch knows the job.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    SUBMITTED = "SUBMITTED"
    PENDING = "PENDING"
    RUNNABLE = "RUNNABLE"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class JobStatus(StrEnum):
    """A job's status: its latest run's status, or one of the pre-Batch states."""

    SUBMITTING = "SUBMITTING"  # claimed in `jobs`, Batch not yet called (or call in flight)
    SUBMIT_FAILED = "SUBMIT_FAILED"  # Batch refused or was unreachable; a new POST retries
    SUBMITTED = "SUBMITTED"
    PENDING = "PENDING"
    RUNNABLE = "RUNNABLE"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


RUN_STATUS_ORDER: tuple[RunStatus, ...] = tuple(RunStatus)
TERMINAL: frozenset[str] = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED})
_RANK = {
    RunStatus.SUBMITTED: 1,
    RunStatus.PENDING: 2,
    RunStatus.RUNNABLE: 3,
    RunStatus.STARTING: 4,
    RunStatus.RUNNING: 5,
    RunStatus.SUCCEEDED: 6,
    RunStatus.FAILED: 6,
}


def rank(status: str) -> int:
    """Position of a run status in the forward order; unknown statuses raise ValueError."""
    try:
        return _RANK[RunStatus(status)]
    except ValueError:
        raise ValueError(f"unknown run status {status!r}") from None


def is_terminal(status: str) -> bool:
    return status in TERMINAL


def moves_forward(current: str | None, new: str) -> bool:
    """True when ``new`` may replace ``current`` (no current status: always)."""
    return current is None or rank(new) > rank(current)


RERUNNABLE: frozenset[str] = TERMINAL | {JobStatus.SUBMIT_FAILED}


def can_start_new_run(job_status: str) -> bool:
    """A job may be (re-)submitted when it has no run in flight."""
    return job_status in RERUNNABLE
