"""AWS Batch's retry decision for a finished attempt, as a pure function.

Semantics (AWS Batch ``RetryStrategy`` / ``EvaluateOnExit`` API reference and the
"Job timeouts" user guide):

* A successful attempt (exit code 0) is never retried.
* ``evaluateOnExit`` entries are checked in order; an entry matches when all of the
  conditions it sets match (``onExitCode`` against the decimal exit code,
  ``onReason`` against the container's ``reason``, ``onStatusReason`` against the
  attempt's ``statusReason``). Patterns are globs that may end with ``*``; the
  comparison is case-sensitive like AWS's. The first matching entry's ``action``
  (``RETRY``/``EXIT``, case-insensitive) decides.
* If no entry matches, the job is retried (while attempts remain).
* An attempt stopped because it exceeded ``timeout.attemptDurationSeconds`` is *not*
  retried: "If a job is terminated for exceeding the timeout duration, it isn't
  retried." (AWS Batch User Guide, Job timeouts). The same holds for TerminateJob.
"""

from __future__ import annotations

import fnmatch
from typing import Any


def glob_match(pattern: str, value: str | None) -> bool:
    """AWS's glob: exact text, optionally ending in ``*`` for a prefix match."""
    if value is None:
        return False
    return fnmatch.fnmatchcase(value, pattern)


def entry_matches(
    entry: dict[str, Any], exit_code: int | None, reason: str | None, status_reason: str | None
) -> bool:
    checks = (
        ("onExitCode", None if exit_code is None else str(exit_code)),
        ("onReason", reason),
        ("onStatusReason", status_reason),
    )
    return all(glob_match(entry[key], value) for key, value in checks if key in entry)


def should_retry(
    retry_strategy: dict[str, Any],
    attempt_number: int,
    exit_code: int | None,
    reason: str | None = None,
    status_reason: str | None = None,
) -> bool:
    """Whether a failed attempt ``attempt_number`` (1-based) leads to another attempt."""
    attempts = max(1, min(10, int(retry_strategy.get("attempts") or 1)))
    if attempt_number >= attempts:
        return False
    for entry in retry_strategy.get("evaluateOnExit") or []:
        if entry_matches(entry, exit_code, reason, status_reason):
            return str(entry.get("action", "")).upper() == "RETRY"
    return True
