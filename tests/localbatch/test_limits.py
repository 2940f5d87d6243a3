"""AWS Batch's SubmitJob limits, refused (or failed) as AWS does, through an unmodified boto3."""

from __future__ import annotations

import json
from typing import Any

import pytest

from overlord_local.localbatch.limits import (
    MAX_CONTAINER_OVERRIDES,
    OVERRIDES_TOO_LONG,
    ecs_container_overrides,
)


def refused(batch: Any, **request: Any) -> str:
    """SubmitJob must fail with a 400 ClientException; returns AWS's message."""
    with pytest.raises(batch.exceptions.ClientException) as caught:
        batch.submit_job(**request)
    error = caught.value.response
    assert error["Error"]["Code"] == "ClientException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    return str(error["Error"]["Message"])


@pytest.fixture
def target(make_queue: Any, make_definition: Any) -> dict[str, str]:
    return {"jobQueue": make_queue(), "jobDefinition": make_definition(["python", "-c", "pass"])}


@pytest.mark.parametrize(
    "name", ["-leading-hyphen", "_leading_underscore", "dotted.name", "sp ace", "a" * 129, "é"]
)
def test_job_names_outside_the_pattern_are_refused(
    batch: Any, target: dict[str, str], name: str
) -> None:
    assert "Job name should match valid pattern" in refused(batch, jobName=name, **target)


@pytest.mark.parametrize("name", ["a" * 128, "9lives", "job-1_x", "Z"])
def test_job_names_inside_the_pattern_are_accepted(
    batch: Any, target: dict[str, str], name: str
) -> None:
    assert batch.submit_job(jobName=name, **target)["jobName"] == name


def test_more_than_50_tags_are_refused(batch: Any, target: dict[str, str]) -> None:
    tags = {f"k{i}": "v" for i in range(51)}
    assert "50" in refused(batch, jobName="tags", tags=tags, **target)
    fifty = {f"k{i}": "v" for i in range(50)}
    assert batch.submit_job(jobName="tags", tags=fifty, **target)["jobId"]


def test_attempt_timeouts_under_60_seconds_are_refused(
    batch: Any, target: dict[str, str], make_definition: Any
) -> None:
    message = refused(batch, jobName="t", timeout={"attemptDurationSeconds": 59}, **target)
    assert "60" in message and "attemptDurationSeconds" in message
    assert batch.submit_job(jobName="t", timeout={"attemptDurationSeconds": 60}, **target)
    with pytest.raises(batch.exceptions.ClientException, match="attemptDurationSeconds"):
        make_definition(["python", "-c", "pass"], timeout={"attemptDurationSeconds": 1})


@pytest.mark.parametrize("size", [0, 1, 10_001])
def test_array_sizes_outside_2_to_10000_are_refused(
    batch: Any, target: dict[str, str], size: int
) -> None:
    message = refused(batch, jobName="arr", arrayProperties={"size": size}, **target)
    assert "between 2 and 10000" in message


@pytest.mark.parametrize("size", [2, 10_000])
def test_array_sizes_from_2_to_10000_are_accepted(
    batch: Any, target: dict[str, str], size: int
) -> None:
    job_id = batch.submit_job(jobName="arr", arrayProperties={"size": size}, **target)["jobId"]
    [parent] = batch.describe_jobs(jobs=[job_id])["jobs"]
    assert parent["arrayProperties"]["size"] == size
    batch.terminate_job(jobId=job_id, reason="only checking the size")
    # Without a size it is not an array job.
    plain = batch.submit_job(jobName="arr", arrayProperties={}, **target)["jobId"]
    assert "arrayProperties" not in batch.describe_jobs(jobs=[plain])["jobs"][0]


def test_a_request_body_over_30_kib_is_refused(batch: Any, target: dict[str, str]) -> None:
    parameters = {"blob": "x" * (31 * 1024)}
    message = refused(batch, jobName="big", parameters=parameters, **target)
    assert "Job size must be less than 30 KiB, got 32 KiB" in message
    just_under = {"blob": "x" * (29 * 1024)}
    assert batch.submit_job(jobName="big", parameters=just_under, **target)["jobId"]


def environment_of(total: int) -> list[dict[str, str]]:
    """One override variable whose own JSON makes ``{"environment": [...]}`` ``total`` long."""
    frame = len(json.dumps({"environment": [{"name": "BIG", "value": ""}]}, separators=(",", ":")))
    return [{"name": "BIG", "value": "v" * (total - frame)}]


def test_overrides_length_counts_batchs_own_variables() -> None:
    environment = environment_of(8000)
    own = {"environment": environment}
    assert len(json.dumps(own, separators=(",", ":"))) == 8000
    counted = ecs_container_overrides(
        own,
        command=["python", "-c", "pass"],
        batch_variables={
            "AWS_BATCH_JOB_ID": "0" * 36,
            "AWS_BATCH_JQ_NAME": "q",
            "AWS_BATCH_CE_NAME": "q-ce",
            "AWS_BATCH_JOB_ATTEMPT": "1",
        },
    )
    assert len(counted) > 8000
    for name in ("AWS_BATCH_JOB_ID", "AWS_BATCH_JQ_NAME", "AWS_BATCH_CE_NAME"):
        assert f'"{name}"' in counted


def test_container_overrides_over_8192_fail_the_job_as_on_aws(
    batch: Any,
    target: dict[str, str],
    wait_terminal: Any,
    events: list[dict[str, Any]],
) -> None:
    # The caller's own overrides are under 8,192 characters; Batch's variables push the
    # overrides ECS receives over it. AWS accepts the SubmitJob and fails the job when
    # it places it (ECS RunTask refuses), before any attempt starts.
    overrides = {"environment": environment_of(MAX_CONTAINER_OVERRIDES - 20)}
    job_id = batch.submit_job(jobName="env", containerOverrides=overrides, **target)["jobId"]
    job = wait_terminal(job_id)
    assert job["status"] == "FAILED"
    assert job["statusReason"] == OVERRIDES_TOO_LONG
    assert OVERRIDES_TOO_LONG == "Container Overrides length must be at most 8192"
    assert job["attempts"] == []
    seen = [e["detail"]["status"] for e in events if e["detail"]["jobId"] == job_id]
    assert seen == ["PENDING", "RUNNABLE", "FAILED"]

    small = {"environment": environment_of(MAX_CONTAINER_OVERRIDES - 1000)}
    ok = batch.submit_job(jobName="env", containerOverrides=small, **target)["jobId"]
    assert wait_terminal(ok)["status"] == "SUCCEEDED"


def test_job_and_definition_tags_beyond_50_fail_the_job_after_submission(
    batch: Any, make_queue: Any, make_definition: Any, wait_terminal: Any
) -> None:
    """AWS's SubmitJob reference (propagateTags): "If the total number of combined tags
    from the job and job definition is over 50, the job is moved to the FAILED state" -
    accepted first, failed later. A job tag of the same key replaces the definition's."""
    queue = make_queue()
    tagged = {f"d{i}": "v" for i in range(10)}
    definition = make_definition(["python", "-c", "pass"], tags=tagged, propagateTags=True)
    over = {f"k{i}": "v" for i in range(41)}
    job = batch.submit_job(jobName="over", jobQueue=queue, jobDefinition=definition, tags=over)
    failed = wait_terminal(job["jobId"])
    assert failed["status"] == "FAILED"
    assert "51" in failed["statusReason"] and "50" in failed["statusReason"], failed
    # 40 + 10 = 50, and a shared key counts once: both run.
    for name, tags in (("fifty", dict(list(over.items())[:40])), ("shared", {**over, "d0": "x"})):
        if name == "shared":
            tags.pop("k40")
        ran = batch.submit_job(jobName=name, jobQueue=queue, jobDefinition=definition, tags=tags)
        assert wait_terminal(ran["jobId"])["status"] == "SUCCEEDED", name
    # Without propagateTags nothing is combined.
    plain = make_definition(["python", "-c", "pass"], tags=tagged)
    job = batch.submit_job(jobName="plain", jobQueue=queue, jobDefinition=plain, tags=over)
    assert wait_terminal(job["jobId"])["status"] == "SUCCEEDED"
