"""Fixtures for the local Batch tests: a moto server for CloudWatch Logs, a local
Batch server on a free port, a boto3 Batch client pointed at it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from overlord_local.localbatch import LocalBatchServer, ProcessExecutor, Timings
from tests.support.waiting import wait_for

REGION = "us-east-1"
# AWS's minimum attempt timeout (60 s) lasts one second in these tests.
TIMEOUT_SCALE = 1 / 60
CREDENTIALS: dict[str, Any] = {
    "region_name": REGION,
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
}


@pytest.fixture(scope="session")
def logs_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def logs_client(logs_endpoint: str) -> Any:
    return boto3.client("logs", endpoint_url=logs_endpoint, **CREDENTIALS)


@pytest.fixture
def events() -> list[dict[str, Any]]:
    """Every event the server under test emitted, in order."""
    return []


@pytest.fixture
def extra_environment() -> dict[str, str]:
    return {"RESULTS_BUCKET": "results-bucket", "OVERLORD_TEST": "from-server"}


@pytest.fixture
def batch_server(
    logs_client: Any, events: list[dict[str, Any]], extra_environment: dict[str, str]
) -> Iterator[LocalBatchServer]:
    server = LocalBatchServer(
        ProcessExecutor(logs_client, kill_grace=1.0),
        region=REGION,
        on_event=events.append,
        timings=Timings(step=0.02, capacity_recheck=0.2, timeout_scale=TIMEOUT_SCALE),
        extra_environment=extra_environment,
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def batch(batch_server: LocalBatchServer) -> Any:
    return boto3.client("batch", endpoint_url=batch_server.endpoint_url, **CREDENTIALS)


@pytest.fixture
def make_queue(batch: Any) -> Callable[..., str]:
    """Create a compute environment (``max_vcpus``) and a queue on it; returns the queue name."""

    def make(max_vcpus: int = 4, name: str | None = None) -> str:
        name = name or f"q-{uuid.uuid4().hex[:8]}"
        batch.create_compute_environment(
            computeEnvironmentName=f"{name}-ce",
            type="MANAGED",
            computeResources={
                "type": "FARGATE",
                "maxvCpus": max_vcpus,
                "subnets": ["subnet-1"],
                "securityGroupIds": ["sg-1"],
            },
        )
        batch.create_job_queue(
            jobQueueName=name,
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": f"{name}-ce"}],
        )
        return name

    return make


@pytest.fixture
def make_definition(batch: Any) -> Callable[..., str]:
    """Register a container job definition running ``command``; returns its name."""

    def make(command: list[str], vcpus: str = "1", name: str | None = None, **extra: Any) -> str:
        name = name or f"def-{uuid.uuid4().hex[:8]}"
        properties = {
            "image": "public.ecr.aws/docker/library/python:3.11-slim",
            "command": command,
            "resourceRequirements": [
                {"type": "VCPU", "value": vcpus},
                {"type": "MEMORY", "value": "512"},
            ],
            **extra.pop("containerProperties", {}),
        }
        batch.register_job_definition(
            jobDefinitionName=name, type="container", containerProperties=properties, **extra
        )
        return name

    return make


@pytest.fixture
def make_sleepers(make_queue: Any, make_definition: Any) -> Callable[[int], tuple[str, str]]:
    """A queue of ``max_vcpus`` and a definition whose jobs hold one vCPU for 0.3 s: for
    tests of how many jobs run at once; returns (queue, definition)."""

    def make(max_vcpus: int) -> tuple[str, str]:
        queue = make_queue(max_vcpus=max_vcpus)
        name = make_definition(["python", "-c", "import time; time.sleep(0.3)"], vcpus="1")
        return queue, name

    return make


@pytest.fixture
def wait_terminal(batch: Any) -> Callable[..., dict[str, Any]]:
    def wait(job_id: str, timeout: float = 60.0) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            job: dict[str, Any] = batch.describe_jobs(jobs=[job_id])["jobs"][0]
            return job if job["status"] in ("SUCCEEDED", "FAILED") else None

        result: dict[str, Any] = wait_for(done, timeout)
        return result

    return wait
