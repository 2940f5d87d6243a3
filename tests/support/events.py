"""Batch events for tests, derived from AWS's documented sample."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SAMPLE = Path(__file__).parents[1] / "events" / "batch-job-state-change-runnable.json"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
STATES = ["PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"]


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def sample_event() -> dict[str, Any]:
    return dict(json.loads(SAMPLE.read_text()))


def state_event(
    job_name: str,
    batch_job_id: str,
    status: str,
    *,
    step: int = 0,
    attempts: list[dict[str, Any]] | None = None,
    log_stream: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """The sample event re-addressed to our job, in `status`, `step` seconds after T0."""
    event = copy.deepcopy(sample_event())
    when = T0 + timedelta(seconds=step)
    arn = f"arn:aws:batch:us-east-1:123456789012:job/{batch_job_id}"
    event["id"] = f"{batch_job_id[:8]}-{status.lower()}"
    event["time"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    event["resources"] = [arn]
    detail = event["detail"]
    detail.update(
        jobArn=arn,
        jobName=job_name,
        jobId=batch_job_id,
        status=status,
        createdAt=_ms(T0),
        attempts=attempts or [],
    )
    if reason:
        detail["statusReason"] = reason
    if status in {"RUNNING", "SUCCEEDED", "FAILED"}:
        detail["startedAt"] = _ms(T0 + timedelta(seconds=3))
    if status in {"SUCCEEDED", "FAILED"}:
        detail["stoppedAt"] = _ms(when)
    if log_stream:
        detail["container"]["logStreamName"] = log_stream
    return event


def attempt(
    log_stream: str, exit_code: int, started: int = 3, stopped: int = 4, reason: str | None = None
) -> dict[str, Any]:
    return {
        "container": {
            "containerInstanceArn": "",
            "taskArn": "",
            "exitCode": exit_code,
            "logStreamName": log_stream,
            "networkInterfaces": [],
            **({"reason": reason} if reason else {}),
        },
        "startedAt": _ms(T0 + timedelta(seconds=started)),
        "stoppedAt": _ms(T0 + timedelta(seconds=stopped)),
        "statusReason": "Essential container in task exited",
    }


def run_events(
    job_name: str, batch_job_id: str, log_stream: str, exit_code: int = 0
) -> list[dict[str, Any]]:
    """One run's events in order: PENDING … then SUCCEEDED (exit 0) or FAILED."""
    final = "SUCCEEDED" if exit_code == 0 else "FAILED"
    events = []
    for step, status in enumerate([*STATES[:-1], final], start=1):
        attempts = [attempt(log_stream, exit_code)] if status == final else []
        events.append(
            state_event(
                job_name,
                batch_job_id,
                status,
                step=step,
                attempts=attempts,
                log_stream=log_stream if step >= 4 else None,
            )
        )
    return events


def array_events(
    job_name: str,
    parent: str,
    streams: list[str],
    *,
    failing: frozenset[int] = frozenset(),
) -> list[dict[str, Any]]:
    """An array run's events in order, as AWS sends them: each child's (`<parent>:<i>`,
    `arrayProperties.index`; child i logs to streams[i], those in `failing` exit 1), and
    the parent's (`arrayProperties.size` and `statusSummary`): PENDING once a child is
    RUNNABLE, then SUCCEEDED or FAILED once every child has ended."""
    size = len(streams)
    events = []
    for index, stream in enumerate(streams):
        for event in run_events(
            job_name, f"{parent}:{index}", stream, 1 if index in failing else 0
        ):
            event["detail"]["arrayProperties"] = {"index": index}
            events.append(event)
    ended = {"SUCCEEDED": size - len(failing), "FAILED": len(failing)}
    for step, status, summary in (
        (2, "PENDING", {"RUNNABLE": size}),
        (6, "FAILED" if failing else "SUCCEEDED", ended),
    ):
        event = state_event(job_name, parent, status, step=step)
        del event["detail"]["container"]  # the parent has no container
        event["detail"]["arrayProperties"] = {
            "size": size,
            "statusSummary": {s: summary.get(s, 0) for s in [*STATES[:-1], "SUBMITTED", *ended]},
            "statusSummaryLastUpdatedAt": _ms(T0 + timedelta(seconds=step)),
        }
        events.append(event)
    return events
