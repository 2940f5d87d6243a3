"""The Docker executor. Argument mapping is checked everywhere; running containers only
where a Docker engine answers (``@pytest.mark.docker``, skipped otherwise) and the
worker image is there (``make images``): no test pulls an image."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from overlord_local.localbatch import DockerExecutor, LocalBatchServer, Timings
from overlord_local.localbatch.executors.base import OUT_OF_MEMORY, ContainerSpec
from overlord_local.localbatch.executors.docker_executor import docker_sdk
from tests.conftest import skip_or_fail
from tests.localbatch.conftest import CREDENTIALS, wait_for

IMAGE = "overlord-worker:dev"  # the argument-mapping test only names it


def worker_image(client: Any) -> str | None:
    """The worker image to run: $OVERLORD_WORKER_IMAGE, else overlord-worker:$IMAGE_TAG
    (what `make images` builds; make exports IMAGE_TAG, the git short hash). None when it
    is not here: an image of another commit would test other code."""
    name = os.environ.get("OVERLORD_WORKER_IMAGE")
    if not name:
        tag = os.environ.get("IMAGE_TAG")
        if not tag:
            with contextlib.suppress(Exception):
                tag = subprocess.run(
                    ["git", "rev-parse", "--short", "HEAD"],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.strip()
        name = f"overlord-worker:{tag}" if tag else None
    with contextlib.suppress(Exception):
        if name:
            client.images.get(name)
            return name
    return None


def test_run_arguments_map_the_spec() -> None:
    spec = ContainerSpec(
        batch_job_id="j-1",
        attempt=2,
        image=IMAGE,
        command=["python", "-c", "print(1)"],
        environment={"AWS_BATCH_JOB_ID": "j-1"},
        vcpus=0.25,
        memory_mib=512,
        log_stream="def/default/j-1-2",
    )
    kwargs = DockerExecutor(client=object(), logs_client=object(), network="overlord").run_kwargs(
        spec
    )
    assert kwargs["image"] == IMAGE
    assert kwargs["command"] == ["python", "-c", "print(1)"]
    assert kwargs["environment"] == {"AWS_BATCH_JOB_ID": "j-1"}
    assert kwargs["nano_cpus"] == 250_000_000
    assert kwargs["mem_limit"] == "512m"
    assert kwargs["detach"] is True
    assert kwargs["network"] == "overlord"
    assert kwargs["labels"]["overlord_local.localbatch.job-id"] == "j-1"


def test_array_children_get_valid_container_names() -> None:
    """A child's job id is <parent>:<index>; Docker refuses ':' in a container name, and the
    attempt would fail with CannotStartContainerError (a 400 "Invalid container name")."""
    spec = ContainerSpec(
        batch_job_id="3f0c8a52-1d1e-4f7e-9a8e-2a0f1c9b7d11:7",
        attempt=2,
        image=IMAGE,
        command=["python", "-c", "print(1)"],
        environment={},
        vcpus=0.25,
        memory_mib=512,
        log_stream="def/default/x",
    )
    name = DockerExecutor(client=object(), logs_client=object()).run_kwargs(spec)["name"]
    assert re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+", name), name  # Docker's own rule
    assert "3f0c8a52-1d1e-4f7e-9a8e-2a0f1c9b7d11" in name and name.endswith("7-2")


@pytest.fixture
def docker_client() -> Any:
    try:
        client = docker_sdk().from_env(timeout=3)
        client.ping()
    except Exception:
        skip_or_fail("no Docker engine answers")
    return client


@pytest.fixture
def image(docker_client: Any) -> str:
    found = worker_image(docker_client)
    if not found:
        skip_or_fail("no overlord-worker image of this commit here (make images)")
    return found


@pytest.fixture
def docker_batch(docker_client: Any, logs_client: Any) -> Iterator[Any]:
    server = LocalBatchServer(
        DockerExecutor(logs_client, client=docker_client, kill_grace=2),
        timings=Timings(step=0.02),
        region="us-east-1",
    ).start()
    batch = boto3.client("batch", endpoint_url=server.endpoint_url, **CREDENTIALS)
    batch.create_compute_environment(
        computeEnvironmentName="ce",
        type="MANAGED",
        computeResources={"type": "FARGATE", "maxvCpus": 2, "subnets": []},
    )
    batch.create_job_queue(
        jobQueueName="q",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "ce"}],
    )
    yield batch
    server.stop()


def run(
    batch: Any, image: str, command: list[str], memory: str = "256", timeout: float = 120
) -> dict[str, Any]:
    name = f"docker-{abs(hash(tuple(command)))}"
    batch.register_job_definition(
        jobDefinitionName=name,
        type="container",
        containerProperties={
            "image": image,
            "command": command,
            "resourceRequirements": [
                {"type": "VCPU", "value": "1"},
                {"type": "MEMORY", "value": memory},
            ],
        },
    )
    job_id = batch.submit_job(jobName="d", jobQueue="q", jobDefinition=name)["jobId"]

    def done() -> dict[str, Any] | None:
        job: dict[str, Any] = batch.describe_jobs(jobs=[job_id])["jobs"][0]
        return job if job["status"] in ("SUCCEEDED", "FAILED") else None

    result: dict[str, Any] = wait_for(done, timeout)
    return result


@pytest.mark.docker
def test_container_runs_and_logs(
    docker_batch: Any, image: str, logs_client: Any, docker_client: Any
) -> None:
    job = run(
        docker_batch,
        image,
        ["python", "-c", "import os; print(os.environ['AWS_BATCH_JOB_ATTEMPT'])"],
    )
    assert job["status"] == "SUCCEEDED"
    stream = job["container"]["logStreamName"]

    def messages() -> list[str]:
        response = logs_client.get_log_events(logGroupName="/aws/batch/job", logStreamName=stream)
        return [e["message"] for e in response["events"]]

    assert wait_for(lambda: messages() == ["1"])
    leftovers = docker_client.containers.list(
        all=True, filters={"label": f"overlord_local.localbatch.job-id={job['jobId']}"}
    )
    assert leftovers == []


@pytest.mark.docker
def test_exit_code_and_out_of_memory(docker_batch: Any, image: str) -> None:
    failed = run(docker_batch, image, ["python", "-c", "import sys; sys.exit(3)"])
    assert failed["status"] == "FAILED"
    assert failed["attempts"][0]["container"]["exitCode"] == 3

    oom = run(
        docker_batch, image, ["python", "-c", "b = bytearray(512 * 1024 * 1024)"], memory="32"
    )
    assert oom["status"] == "FAILED"
    assert oom["attempts"][0]["container"]["reason"] == OUT_OF_MEMORY


@pytest.mark.docker
def test_array_children_run_as_containers_with_their_index(
    docker_batch: Any, image: str, logs_client: Any
) -> None:
    docker_batch.register_job_definition(
        jobDefinitionName="docker-array",
        type="container",
        containerProperties={
            "image": image,
            "command": [
                "python",
                "-c",
                "import os; print(os.environ['AWS_BATCH_JOB_ARRAY_INDEX'])",
            ],
            "resourceRequirements": [
                {"type": "VCPU", "value": "1"},
                {"type": "MEMORY", "value": "256"},
            ],
        },
    )
    parent_id = docker_batch.submit_job(
        jobName="d", jobQueue="q", jobDefinition="docker-array", arrayProperties={"size": 3}
    )["jobId"]

    def done() -> dict[str, Any] | None:
        job: dict[str, Any] = docker_batch.describe_jobs(jobs=[parent_id])["jobs"][0]
        return job if job["status"] in ("SUCCEEDED", "FAILED") else None

    assert wait_for(done, 180)["status"] == "SUCCEEDED"
    for index in range(3):
        stream = f"docker-array/default/{parent_id}-{index}"

        def messages(s: str = stream) -> list[str]:
            response = logs_client.get_log_events(logGroupName="/aws/batch/job", logStreamName=s)
            return [e["message"] for e in response["events"]]

        assert wait_for(lambda m=messages, i=index: m() == [str(i)])
