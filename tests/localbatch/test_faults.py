"""Injected SubmitJob failures, seen through boto3 with its retries turned off."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from overlord_local.localbatch import LocalBatchServer, ProcessExecutor, SubmitFaults, Timings
from overlord_local.localbatch.__main__ import parse_args, submit_faults
from tests.localbatch.conftest import CREDENTIALS, REGION
from tests.support.waiting import wait_for

NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


@pytest.fixture
def faulty(logs_client: Any) -> Iterator[Callable[[SubmitFaults], Any]]:
    """A local Batch with ``faults``, a queue ``q`` and a definition ``d``; its boto3 client."""
    servers: list[LocalBatchServer] = []

    def start(faults: SubmitFaults) -> Any:
        server = LocalBatchServer(
            ProcessExecutor(logs_client, kill_grace=1.0),
            region=REGION,
            timings=Timings(step=0.02),
            submit_faults=faults,
        ).start()
        servers.append(server)
        client = boto3.client(
            "batch", endpoint_url=server.endpoint_url, config=NO_RETRIES, **CREDENTIALS
        )
        client.create_compute_environment(
            computeEnvironmentName="ce",
            type="MANAGED",
            computeResources={"type": "FARGATE", "maxvCpus": 4, "subnets": ["s"]},
        )
        client.create_job_queue(
            jobQueueName="q",
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "ce"}],
        )
        client.register_job_definition(
            jobDefinitionName="d",
            type="container",
            containerProperties={"image": "i", "command": ["python", "-c", "pass"]},
        )
        return client

    yield start
    for server in servers:
        server.stop()


def submit(client: Any, name: str) -> dict[str, Any]:
    return dict(client.submit_job(jobName=name, jobQueue="q", jobDefinition="d"))


def jobs_named(client: Any, name: str) -> list[dict[str, Any]]:
    found = client.list_jobs(jobQueue="q", filters=[{"name": "JOB_NAME", "values": [name]}])
    return list(found["jobSummaryList"])


def test_throttle_answers_429_and_creates_nothing(faulty: Any) -> None:
    client = faulty(SubmitFaults(rate=1.0, kinds=("throttle",)))
    with pytest.raises(ClientError) as caught:
        submit(client, "throttled")
    error = caught.value.response
    assert error["Error"]["Code"] == "TooManyRequestsException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert jobs_named(client, "throttled") == []
    assert client.describe_job_queues()["jobQueues"], "other operations are not affected"


def test_5xx_before_creating_answers_500_and_creates_nothing(faulty: Any) -> None:
    client = faulty(SubmitFaults(rate=1.0, kinds=("5xx",)))
    with pytest.raises(client.exceptions.ServerException) as caught:
        submit(client, "rejected")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert jobs_named(client, "rejected") == []


def test_5xx_after_creating_loses_the_answer_but_the_job_runs(faulty: Any) -> None:
    client = faulty(SubmitFaults(rate=1.0, kinds=("5xx-lost",)))
    with pytest.raises(client.exceptions.ServerException) as caught:
        submit(client, "lost")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    [summary] = jobs_named(client, "lost")
    assert summary["jobId"] not in str(caught.value), "the caller does not learn the job ID"

    def finished() -> bool:
        job = client.describe_jobs(jobs=[summary["jobId"]])["jobs"][0]
        return bool(job["status"] == "SUCCEEDED")

    wait_for(finished)


def outcomes(client: Any, count: int) -> list[str]:
    found = []
    for i in range(count):
        name = f"j{i}-{uuid.uuid4().hex[:6]}"
        try:
            submit(client, name)
            found.append("ok")
        except ClientError as exc:
            found.append(exc.response["Error"]["Code"])
    return found


def test_a_seed_repeats_the_same_choices_and_the_rate_is_a_share(faulty: Any) -> None:
    faults = {"rate": 0.5, "kinds": ("throttle", "5xx"), "seed": 7}
    first = outcomes(faulty(SubmitFaults(**faults)), 40)
    second = outcomes(faulty(SubmitFaults(**faults)), 40)
    assert first == second
    assert {"ok", "TooManyRequestsException", "ServerException"} == set(first)
    assert 8 <= first.count("ok") <= 32
    assert set(outcomes(faulty(SubmitFaults(rate=0.0)), 10)) == {"ok"}


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="rate"):
        SubmitFaults(rate=1.5)
    with pytest.raises(ValueError, match="kind"):
        SubmitFaults(rate=0.1, kinds=("throttle", "teapot"))


def test_cli_flags() -> None:
    args = parse_args(
        [
            "--fail-submit-rate",
            "0.3",
            "--fail-submit-kinds",
            "throttle,5xx-lost",
            "--fail-seed",
            "4",
        ]
    )
    faults = submit_faults(args)
    assert faults is not None
    assert (faults.rate, faults.kinds, faults.seed) == (0.3, ("throttle", "5xx-lost"), 4)
    assert submit_faults(parse_args([])) is None
