"""Real servers for the tests: MongoDB over the wire, AWS over HTTP on moto (README, make test)."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from pymongo import MongoClient
from pymongo.database import Database

from overlord import wiring
from overlord_local import provision as aws_bootstrap
from overlord_local.devstack.ferretdb import FerretDB
from overlord_local.devstack.lambdas import LocalLambdaContext
from overlord_local.devstack.processes import free_port
from tests.support import awscalls

REGION = "us-east-1"
RESULTS_BUCKET = "overlord-test-results"
JOB_QUEUE = "overlord-test"
JOB_DEFINITION = "overlord-worker"


def docker_engine_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


def pytest_configure(config: pytest.Config) -> None:
    """Record the product's AWS calls, in this process and its subprocesses, for the IAM
    coverage test (tests/infra/test_iam_coverage.py, run last)."""
    path = Path(tempfile.mkdtemp(prefix="overlord-aws-calls-")) / "calls.jsonl"
    os.environ.update(awscalls.session_environment(path))
    awscalls.install(path)


IAM_COVERAGE_TESTS = "tests/infra/test_iam_coverage.py"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The IAM coverage test reads what every other test recorded: it goes last.
    items.sort(key=lambda item: item.nodeid.startswith(IAM_COVERAGE_TESTS))
    if docker_engine_answers():
        return
    skip = pytest.mark.skip(reason="no Docker engine answers here")
    for item in items:
        if "docker" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def mongodb_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """MONGODB_URI if set, else a testcontainers mongo:7, else a FerretDB process."""
    if os.environ.get("MONGODB_URI"):
        yield os.environ["MONGODB_URI"]
    elif docker_engine_answers():
        from testcontainers.mongodb import MongoDbContainer

        with MongoDbContainer("mongo:7") as mongo:
            yield mongo.get_connection_url()
    else:
        server = FerretDB(tmp_path_factory.mktemp("ferretdb"))
        try:
            yield server.start()
        finally:
            server.stop()


@pytest.fixture(scope="session")
def mongo_client(mongodb_uri: str) -> Iterator[MongoClient]:
    client: MongoClient = MongoClient(mongodb_uri, tz_aware=True, serverSelectionTimeoutMS=5000)
    yield client
    client.close()


@pytest.fixture
def db(mongo_client: MongoClient) -> Iterator[Database]:
    """A fresh database per test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield mongo_client[name]
    with contextlib.suppress(Exception):
        mongo_client.drop_database(name)


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server on a free port, AWS_* pointing at it, with what the flow needs."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    with environment(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        RESULTS_BUCKET=RESULTS_BUCKET,
        JOB_QUEUE=JOB_QUEUE,
    ):
        aws_bootstrap.ensure_bucket(RESULTS_BUCKET)
        aws_bootstrap.ensure_log_group()
        aws_bootstrap.ensure_batch(JOB_QUEUE, aws_bootstrap.load_definitions(), "overlord-worker")
        yield endpoint
    server.stop()


@pytest.fixture
def app_env(db: Database, mongodb_uri: str, moto_endpoint: str) -> Iterator[dict[str, str]]:
    """The Lambdas' environment for one test: its own database, the shared moto server."""
    values = {
        "MONGODB_URI": mongodb_uri,
        "DB_NAME": db.name,
        "JOB_QUEUE": JOB_QUEUE,
        "JOB_DEFINITION": JOB_DEFINITION,
        "RESULTS_BUCKET": RESULTS_BUCKET,
        "LOG_LEVEL": "WARNING",
    }
    with environment(**values):
        wiring.reset()
        yield values
    wiring.reset()


@pytest.fixture
def lambda_context() -> LocalLambdaContext:
    return LocalLambdaContext()


@pytest.fixture
def aws() -> Any:
    """boto3 clients on the moto server."""

    class Clients:
        def __getattr__(self, service: str) -> Any:
            return boto3.client(service)

    return Clients()
