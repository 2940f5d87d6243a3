"""The order in which one SQS batch is recorded (overlord.domain.event_batches)."""

from __future__ import annotations

import json

from overlord.domain.event_batches import in_recording_order


def _record(job: str, status: str, time: str = "2026-01-01T00:00:00Z") -> dict[str, str]:
    body = json.dumps({"time": time, "detail": {"jobId": job, "status": status}})
    return {"messageId": f"{job}-{status}-{time}", "body": body}


def _pairs(records):
    return [
        (json.loads(r["body"])["detail"]["jobId"], json.loads(r["body"])["detail"]["status"])
        for r in records
    ]


def test_runs_in_first_seen_order_each_in_status_order():
    batch = [
        _record("b", "SUCCEEDED"),
        _record("a", "RUNNING"),
        _record("b", "RUNNABLE"),
        _record("a", "PENDING"),
        _record("b", "RUNNING"),
    ]
    assert _pairs(in_recording_order(batch)) == [
        ("b", "RUNNABLE"),
        ("b", "RUNNING"),
        ("b", "SUCCEEDED"),
        ("a", "PENDING"),
        ("a", "RUNNING"),
    ]


def test_duplicates_and_unreadable_bodies_are_kept():
    bad = {"messageId": "x", "body": "not json"}
    batch = [_record("a", "RUNNING"), bad, _record("a", "RUNNING"), _record("a", "PENDING")]
    ordered = in_recording_order(batch)
    assert len(ordered) == 4 and bad in ordered
    readable = [r for r in ordered if r is not bad]
    assert _pairs(readable) == [("a", "PENDING"), ("a", "RUNNING"), ("a", "RUNNING")]


def test_equal_statuses_by_event_time():
    late = _record("a", "FAILED", "2026-01-01T00:00:09Z")
    early = _record("a", "SUCCEEDED", "2026-01-01T00:00:01Z")
    assert in_recording_order([late, early]) == [early, late]
