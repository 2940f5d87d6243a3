"""Every operation through an unmodified boto3 client: botocore must parse each answer."""

from __future__ import annotations

from typing import Any

import pytest

from tests.localbatch.conftest import CREDENTIALS
from tests.support.waiting import wait_for

ACCOUNT_PREFIX = "arn:aws:batch:us-east-1:123456789012:"


def test_compute_environments_and_queues(batch: Any) -> None:
    ce = batch.create_compute_environment(
        computeEnvironmentName="ce-a",
        type="MANAGED",
        computeResources={"type": "FARGATE", "maxvCpus": 2, "subnets": ["s"]},
        tags={"team": "overlord"},
    )
    assert ce["computeEnvironmentArn"] == f"{ACCOUNT_PREFIX}compute-environment/ce-a"
    queue = batch.create_job_queue(
        jobQueueName="queue-a",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce["computeEnvironmentArn"]}],
    )
    assert queue["jobQueueArn"] == f"{ACCOUNT_PREFIX}job-queue/queue-a"

    described = batch.describe_compute_environments(computeEnvironments=["ce-a"])
    [detail] = described["computeEnvironments"]
    assert detail["computeResources"]["maxvCpus"] == 2
    assert (detail["state"], detail["status"]) == ("ENABLED", "VALID")
    assert detail["tags"] == {"team": "overlord"}

    by_arn = batch.describe_job_queues(jobQueues=[queue["jobQueueArn"]])["jobQueues"]
    by_name = batch.describe_job_queues(jobQueues=["queue-a"])["jobQueues"]
    assert by_arn == by_name
    assert by_name[0]["computeEnvironmentOrder"][0]["order"] == 1
    assert batch.describe_job_queues(jobQueues=["nope"])["jobQueues"] == []

    with pytest.raises(batch.exceptions.ClientException, match="already exists"):
        batch.create_job_queue(jobQueueName="queue-a", priority=1, computeEnvironmentOrder=[])
    with pytest.raises(batch.exceptions.ClientException, match="does not exist"):
        batch.create_job_queue(
            jobQueueName="queue-b",
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "missing"}],
        )


def test_job_definition_revisions(batch: Any) -> None:
    properties = {"image": "img", "command": ["python", "-c", "print(1)"]}
    first = batch.register_job_definition(
        jobDefinitionName="jd", type="container", containerProperties=properties
    )
    second = batch.register_job_definition(
        jobDefinitionName="jd",
        type="container",
        containerProperties={**properties, "command": ["python", "-c", "print(2)"]},
        retryStrategy={"attempts": 2},
        timeout={"attemptDurationSeconds": 60},
    )
    assert (first["revision"], second["revision"]) == (1, 2)
    assert second["jobDefinitionArn"] == f"{ACCOUNT_PREFIX}job-definition/jd:2"

    everything = batch.describe_job_definitions(jobDefinitionName="jd")["jobDefinitions"]
    assert sorted(d["revision"] for d in everything) == [1, 2]
    [one] = batch.describe_job_definitions(jobDefinitions=["jd:1"])["jobDefinitions"]
    assert one["containerProperties"]["command"][-1] == "print(1)"
    [two] = batch.describe_job_definitions(jobDefinitions=[second["jobDefinitionArn"]])[
        "jobDefinitions"
    ]
    assert two["retryStrategy"] == {"attempts": 2}
    assert two["status"] == "ACTIVE"

    batch.deregister_job_definition(jobDefinition="jd:2")
    active = batch.describe_job_definitions(jobDefinitionName="jd", status="ACTIVE")
    assert [d["revision"] for d in active["jobDefinitions"]] == [1]


def test_submit_by_every_reference_and_describe(
    batch: Any, make_queue: Any, make_definition: Any, wait_terminal: Any
) -> None:
    queue = make_queue()
    name = make_definition(["python", "-c", "pass"])
    queue_arn = batch.describe_job_queues(jobQueues=[queue])["jobQueues"][0]["jobQueueArn"]
    definition_arn = f"{ACCOUNT_PREFIX}job-definition/{name}:1"
    ids = [
        batch.submit_job(jobName=f"by-{i}", jobQueue=q, jobDefinition=d)["jobId"]
        for i, (q, d) in enumerate(
            [(queue, name), (queue_arn, f"{name}:1"), (queue, definition_arn)]
        )
    ]
    jobs = batch.describe_jobs(jobs=ids)["jobs"]
    assert [j["jobId"] for j in jobs] == ids
    for job in jobs:
        assert job["jobArn"] == f"{ACCOUNT_PREFIX}job/{job['jobId']}"
        assert job["jobQueue"] == queue_arn
        assert job["jobDefinition"] == definition_arn
    for job_id in ids:
        assert wait_terminal(job_id)["status"] == "SUCCEEDED"
    assert batch.describe_jobs(jobs=["not-a-job"])["jobs"] == []


def test_submit_errors(batch: Any, make_queue: Any, make_definition: Any) -> None:
    queue = make_queue()
    name = make_definition(["python", "-c", "pass"])
    with pytest.raises(batch.exceptions.ClientException, match="Job Queue"):
        batch.submit_job(jobName="x", jobQueue="missing", jobDefinition=name)
    with pytest.raises(batch.exceptions.ClientException, match="Job definition"):
        batch.submit_job(jobName="x", jobQueue=queue, jobDefinition=f"{name}:7")


def test_describe_jobs_refuses_more_than_100_ids(batch: Any) -> None:
    with pytest.raises(batch.exceptions.ClientException) as caught:
        batch.describe_jobs(jobs=[f"job-{i}" for i in range(101)])
    error = caught.value.response
    assert error["Error"]["Code"] == "ClientException"
    assert "100" in error["Error"]["Message"]
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "ClientException"


def test_list_jobs_status_filters_and_pages(
    batch: Any, make_queue: Any, make_definition: Any, wait_terminal: Any
) -> None:
    queue = make_queue(max_vcpus=8)
    quick = make_definition(["python", "-c", "pass"])
    slow = make_definition(["python", "-c", "import time; time.sleep(30)"])
    done = [
        batch.submit_job(jobName=f"done-{i}", jobQueue=queue, jobDefinition=quick)["jobId"]
        for i in range(5)
    ]
    running = batch.submit_job(jobName="sleeper", jobQueue=queue, jobDefinition=slow)["jobId"]
    for job_id in done:
        wait_terminal(job_id)
    wait_for(lambda: batch.describe_jobs(jobs=[running])["jobs"][0]["status"] == "RUNNING")

    default = batch.list_jobs(jobQueue=queue)["jobSummaryList"]
    assert [s["jobId"] for s in default] == [running], "ListJobs lists RUNNING jobs by default"
    succeeded = batch.list_jobs(jobQueue=queue, jobStatus="SUCCEEDED")["jobSummaryList"]
    assert {s["jobId"] for s in succeeded} == set(done)
    assert all(s["container"]["exitCode"] == 0 for s in succeeded)

    by_name = batch.list_jobs(jobQueue=queue, filters=[{"name": "JOB_NAME", "values": ["done-*"]}])[
        "jobSummaryList"
    ]
    assert {s["jobId"] for s in by_name} == set(done)

    first = batch.list_jobs(jobQueue=queue, jobStatus="SUCCEEDED", maxResults=2)
    assert len(first["jobSummaryList"]) == 2
    assert first["nextToken"]
    pages = batch.get_paginator("list_jobs").paginate(
        jobQueue=queue, jobStatus="SUCCEEDED", PaginationConfig={"PageSize": 2}
    )
    paged = [s["jobId"] for page in pages for s in page["jobSummaryList"]]
    assert sorted(paged) == sorted(done)

    batch.terminate_job(jobId=running, reason="test over")
    with pytest.raises(batch.exceptions.ClientException):
        batch.list_jobs(jobQueue="missing")


def test_tags(batch: Any, make_queue: Any, make_definition: Any) -> None:
    queue = make_queue()
    name = make_definition(["python", "-c", "pass"])
    job = batch.submit_job(jobName="t", jobQueue=queue, jobDefinition=name, tags={"a": "1"})
    assert batch.list_tags_for_resource(resourceArn=job["jobArn"])["tags"] == {"a": "1"}
    batch.tag_resource(resourceArn=job["jobArn"], tags={"b": "2"})
    batch.untag_resource(resourceArn=job["jobArn"], tagKeys=["a"])
    assert batch.list_tags_for_resource(resourceArn=job["jobArn"])["tags"] == {"b": "2"}
    assert batch.describe_jobs(jobs=[job["jobId"]])["jobs"][0]["tags"] == {"b": "2"}


def test_endpoint_from_environment(
    batch_server: Any, monkeypatch: pytest.MonkeyPatch, make_queue: Any
) -> None:
    import boto3

    make_queue(name="env-queue")
    monkeypatch.setenv("AWS_ENDPOINT_URL_BATCH", batch_server.endpoint_url)
    client = boto3.client("batch", **CREDENTIALS)
    assert client.describe_job_queues(jobQueues=["env-queue"])["jobQueues"]


def test_the_dev_stack_bootstrap_runs_against_the_local_batch(
    batch_server: Any, batch: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from overlord_local import provision as bootstrap

    monkeypatch.setenv("AWS_ENDPOINT_URL_BATCH", batch_server.endpoint_url)
    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    definitions = bootstrap.load_definitions("worker:dev")
    arn = bootstrap.ensure_batch("boot-q", definitions, service_role=False)
    assert arn == "arn:aws:batch:us-east-1:123456789012:job-queue/boot-q"
    assert bootstrap.ensure_batch("boot-q", definitions, service_role=False) == arn
    [ce] = batch.describe_compute_environments()["computeEnvironments"]
    assert ce["type"] == "UNMANAGED"
    revisions = batch.describe_job_definitions(jobDefinitionName="overlord-echo")
    assert [d["revision"] for d in revisions["jobDefinitions"]] == [1, 2]
