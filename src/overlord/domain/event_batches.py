"""The order in which the recorder records one SQS batch of Batch state-change events.

SQS (standard) gives no order: one batch may hold a run's SUCCEEDED before its RUNNING,
and the same event twice. Recording is correct in any order (a run's status only moves
forward, duplicates change nothing), but a late RUNNING after SUCCEEDED is a write that
is thrown away. So a batch is recorded run by run, each run's events in status order,
and stale writes become rare rather than impossible.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from overlord.domain.status import rank

# A body we cannot read sorts where it stands: the batch utility reports it as failed.
_UNREADABLE = ("", 0, "")


def _run_key(body: str) -> tuple[str, int, str]:
    """(the run's Batch job ID, the status's rank, the event's time) of one message body."""
    try:
        event = json.loads(body)
        detail = event["detail"]
        return str(detail["jobId"]), rank(str(detail["status"])), str(event.get("time", ""))
    except (ValueError, TypeError, KeyError):
        return _UNREADABLE


def in_recording_order(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The SQS records grouped by run (runs in order of first appearance), each run's
    events in status order, then event time; ties keep their order (a stable sort)."""
    keys = [_run_key(str(r.get("body", ""))) for r in records]
    first_seen: dict[str, int] = {}
    for position, (run, _, _) in enumerate(keys):
        first_seen.setdefault(run, position)
    order = sorted(
        range(len(records)),
        key=lambda i: (first_seen[keys[i][0]], keys[i][1], keys[i][2]),
    )
    return [records[i] for i in order]
