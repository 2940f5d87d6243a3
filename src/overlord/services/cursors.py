"""Opaque page cursors for GET /jobs and GET /jobs/{job_id}/logs.

A jobs cursor is the keyset position of the last job a page returned (never an
offset), so a page continues right after it whatever was inserted meanwhile.

A logs cursor is what the reader has seen, not a position: a run's lines are not
written in reading order (events arrive out of order; the result and the attempts'
lines are stored before the terminal state line; CloudWatch's late lines are copied
after it), so a position would skip the lines stored behind it later (issue 23, defect
6). Per run it holds the small lines seen (submission, states, result: a handful) and,
per attempt, how many of its `log` lines from seq 0 (they are numbered by their place
in the stream, so the seen ones are a prefix).

Cursors are base64url JSON, versioned; clients must treat them as opaque.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from overlord.domain.errors import InvalidRequest
from overlord.ports import JobKey

_VERSION = 1


def _encode(fields: dict[str, Any]) -> str:
    raw = json.dumps({"v": _VERSION, **fields}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, kind: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        fields = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(fields, dict) or fields.get("v") != _VERSION or fields.get("k") != kind:
            raise ValueError
        return fields
    except (ValueError, UnicodeError, binascii.Error):
        raise InvalidRequest("cursor: not a cursor this API returned for this list") from None


def job_cursor(key: JobKey) -> str:
    millis = int(key.created_at.timestamp() * 1000)
    return _encode({"k": "jobs", "t": millis, "id": key.job_id})


def parse_job_cursor(cursor: str) -> JobKey:
    fields = _decode(cursor, "jobs")
    try:
        at = datetime.fromtimestamp(int(fields["t"]) / 1000, UTC)
        return JobKey(created_at=at, job_id=str(fields["id"]))
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        raise InvalidRequest("cursor: not a cursor this API returned for this list") from None


LineId = tuple[str, int, int]  # (kind, attempt, seq): a line's identity within its run


@dataclass
class RunSeen:
    """The lines of one run a reader has seen."""

    small: set[LineId] = field(default_factory=set)  # submission, state and result lines
    counts: dict[int, int] = field(default_factory=dict)  # attempt -> log lines 0..n-1 seen


def log_cursor(seen: dict[str, RunSeen]) -> str:
    runs = {
        batch_job_id: {
            "l": sorted([k, a, s] for k, a, s in run.small),
            "n": {str(a): n for a, n in sorted(run.counts.items())},
        }
        for batch_job_id, run in seen.items()
    }
    return _encode({"k": "logs2", "r": runs})


def parse_log_cursor(cursor: str) -> dict[str, RunSeen]:
    fields = _decode(cursor, "logs2")
    try:
        return {
            str(batch_job_id): RunSeen(
                small={(str(k), int(a), int(s)) for k, a, s in run["l"]},
                counts={int(a): int(n) for a, n in run["n"].items()},
            )
            for batch_job_id, run in fields["r"].items()
        }
    except (KeyError, TypeError, ValueError, AttributeError):
        raise InvalidRequest("cursor: not a cursor this API returned for this list") from None
