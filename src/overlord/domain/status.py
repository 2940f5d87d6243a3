"""The one place that states the order of statuses.

A run's status only moves forward along `RunStatus`'s order; SUCCEEDED and FAILED share
the final rank, so whichever terminal status is recorded first stays. A job's status is
its latest run's, or one of the two states that exist before Batch knows the job.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """AWS Batch's job states, in the order a run moves through them."""

    SUBMITTED = "SUBMITTED"
    PENDING = "PENDING"
    RUNNABLE = "RUNNABLE"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"  # ranks with SUCCEEDED: a run ends once


# A job's own states before Batch holds a run for it.
SUBMITTING = "SUBMITTING"  # claimed in `jobs`, SubmitJob not answered yet
SUBMIT_FAILED = "SUBMIT_FAILED"  # Batch refused or was unreachable; the same POST retries
JOB_STATUSES: tuple[str, ...] = (SUBMITTING, SUBMIT_FAILED, *RunStatus)

TERMINAL: frozenset[str] = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED})
_RANK: dict[str, int] = {s.value: i + 1 for i, s in enumerate(RunStatus) if s not in TERMINAL}
_RANK.update(dict.fromkeys(TERMINAL, len(_RANK) + 1))
# A job may start a new run (or be submitted again) only when none is in flight.
RERUNNABLE: frozenset[str] = TERMINAL | {SUBMIT_FAILED}
IN_FLIGHT: tuple[str, ...] = tuple(s for s in JOB_STATUSES if s not in RERUNNABLE)


def rank(status: str) -> int:
    """Position of a run status in the forward order; unknown statuses raise ValueError."""
    try:
        return _RANK[status]
    except KeyError:
        raise ValueError(f"unknown run status {status!r}") from None


def is_terminal(status: str) -> bool:
    return status in TERMINAL


def moves_forward(current: str | None, new: str) -> bool:
    """True when ``new`` may replace ``current`` (no current status: always)."""
    return current is None or rank(new) > rank(current)
