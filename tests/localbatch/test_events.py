"""Contract: the events the local Batch emits look like AWS's documented samples.

``tests/events/batch-job-state-change-runnable.json`` is the sample of the AWS Batch
User Guide ("Job state change events"); ``…-succeeded.json`` is the same job at
SUCCEEDED with the fields AWS adds once a job ran (attempts, exit code, log stream).
Every key of a sample must be present in our event with the same JSON type,
recursively; maps (``tags``, ``parameters``) are compared as maps only.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from overlord_local.localbatch.events import state_change_event

EVENTS = Path(__file__).resolve().parent.parent / "events"
MAPS = {"tags", "parameters"}


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object", type(None): "null"}[type(value)]


def shape_errors(sample: Any, ours: Any, path: str = "$") -> list[str]:
    if json_type(sample) != json_type(ours):
        return [f"{path}: {json_type(ours)} where AWS has {json_type(sample)}"]
    errors: list[str] = []
    if isinstance(sample, dict) and path.rsplit(".", 1)[-1] not in MAPS:
        for key, value in sample.items():
            if key not in ours:
                errors.append(f"{path}.{key}: missing")
            else:
                errors += shape_errors(value, ours[key], f"{path}.{key}")
    elif isinstance(sample, list) and sample:
        for index, item in enumerate(ours):
            errors += shape_errors(sample[0], item, f"{path}[{index}]")
    return errors


@pytest.fixture
def finished_events(
    batch: Any,
    make_queue: Any,
    make_definition: Any,
    wait_terminal: Any,
    events: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    queue = make_queue()
    name = make_definition(["python", "-c", "print('hi')"])
    job_id = batch.submit_job(
        jobName="event-test", jobQueue=queue, jobDefinition=name, tags={"team": "x"}
    )["jobId"]
    wait_terminal(job_id)
    return [e for e in events if e["detail"]["jobId"] == job_id]


def test_samples_are_consistent() -> None:
    runnable = load("batch-job-state-change-runnable.json")
    succeeded = load("batch-job-state-change-succeeded.json")
    assert shape_errors(runnable, succeeded) == []
    assert succeeded["detail"]["status"] == "SUCCEEDED"


def test_every_event_has_the_documented_shape(finished_events: list[dict[str, Any]]) -> None:
    runnable = load("batch-job-state-change-runnable.json")
    assert finished_events[0]["detail"]["status"] == "PENDING", "none for SUBMITTED"
    for event in finished_events:
        assert shape_errors(runnable, event) == [], event["detail"]["status"]
        assert event["version"] == "0"
        assert event["source"] == "aws.batch"
        assert event["detail-type"] == "Batch Job State Change"
        assert event["resources"] == [event["detail"]["jobArn"]]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["time"])
        uuid.UUID(event["id"])
    assert len({e["id"] for e in finished_events}) == len(finished_events)


def test_succeeded_event_matches_the_succeeded_sample(
    finished_events: list[dict[str, Any]], batch: Any
) -> None:
    sample = load("batch-job-state-change-succeeded.json")
    final = finished_events[-1]
    assert final["detail"]["status"] == "SUCCEEDED"
    assert shape_errors(sample, final) == []
    described = batch.describe_jobs(jobs=[final["detail"]["jobId"]])["jobs"][0]
    assert final["detail"] == described, "detail is DescribeJobs' JobDetail"


def test_envelope_builder_uses_the_given_detail() -> None:
    sample = load("batch-job-state-change-succeeded.json")
    event = state_change_event(sample["detail"], "eu-west-1", "111122223333")
    assert event["region"] == "eu-west-1"
    assert event["account"] == "111122223333"
    assert shape_errors(sample, event) == []
