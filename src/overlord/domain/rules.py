"""The recording rules both stores apply (MongoStore as query conditions and updates,
the unit tests' FakeStore in memory): how a run's observations merge, when an array
has ended, and what a job shows of its latest run.

Each rule is order-independent, so that the documents do not depend on the order,
repetition or concurrency of what is observed (docs/reliability.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from overlord.domain.status import TERMINAL, rank


def attempts_rank(attempts: int, status: str) -> int:
    """Orders observations of one run: more attempts first, then the status. A run's
    attempts list is replaced only by an observation that ranks higher."""
    return attempts * 10 + rank(status)


def earlier(history: Mapping[str, datetime], status: str, at: datetime) -> bool:
    """True when `at` is the earliest time seen of `status` (each status keeps its first)."""
    return status not in history or history[status] > at


def ended_otherwise(history: Mapping[str, Any], status: str) -> bool:
    """The run already ended with another terminal status: a run ends once."""
    return status in TERMINAL and any(s in history for s in TERMINAL - {status})


def array_ended(parent_status: str | None, size: int, children_ended: int) -> bool:
    """An array run has ended once its parent has and every child's ending is recorded
    (EventBridge may deliver the parent's ending before its children's)."""
    return parent_status in TERMINAL and children_ended >= size


def job_follows(run: Mapping[str, Any], children_ended: int | None = None) -> str | None:
    """The status a job shows of its latest run: the run's, except that an array job
    whose parent ended before all its children holds where it was (None: do not move).
    `children_ended` is the recount, needed only for an ended array parent."""
    status = run.get("status")
    if status is None:
        return None
    if (
        "array" in run
        and status in TERMINAL
        and (
            children_ended is None or not array_ended(status, run["array"]["size"], children_ended)
        )
    ):
        return None
    return str(status)


def moves_job(latest: Mapping[str, Any] | None, batch_job_id: str, status: str) -> bool:
    """A job follows only its latest run, and only forward."""
    return (
        latest is not None
        and latest["batch_job_id"] == batch_job_id
        and latest["status_rank"] < rank(status)
    )


def is_unrecorded(run_number: int | None, run_count: int) -> bool:
    """A run the job does not count yet: created by an event before the submitter
    recorded it (no number), or numbered by a submitter that stopped before pointing
    the job at it."""
    return run_number is None or run_number > run_count
