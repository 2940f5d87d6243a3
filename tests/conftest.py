"""Real servers for the tests: MongoDB over the wire, AWS over HTTP on moto (README, make test)."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from pymongo import MongoClient
from pymongo.database import Database

from overlord.runtime import wiring
from overlord_local import provision as aws_bootstrap
from overlord_local.devstack.ferretdb import FerretDB
from overlord_local.devstack.processes import free_port
from overlord_local.lambdas import LocalLambdaContext
from tests.support import awscalls, emf

REGION = "us-east-1"
RESULTS_BUCKET = "overlord-test-results"
CONTRACT_TASKS = Path(__file__).resolve().parents[1] / "contracts" / "tasks"
# A test-only task taking any parameters (the tests of storage escaping, identity, ...),
# added to a copy of the catalogue as a user adds a task: one file.
ANY_PARAMETERS_TASK = {
    "name": "anything",
    "description": "Echo any parameters (tests only)",
    "parameters": {"type": "object"},
    "runs": {"python": "tests.support.tasks:anything"},
    "vcpus": 0.25,
    "memory": 512,
    "timeout_seconds": 600,
    "attempts": 3,
    "no_retry_exit_codes": [2],
}


def catalogue_copy(directory: Path, *extra: dict[str, Any]) -> Path:
    """The repository's task catalogue copied into `directory`, plus `extra` task files."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in CONTRACT_TASKS.glob("*.json"):
        shutil.copy(path, directory / path.name)
    for task in extra:
        (directory / f"{task['name']}.json").write_text(json.dumps(task, indent=2))
    return directory


JOB_QUEUE = "overlord-test"


# The image testcontainers starts when a Docker engine answers (the compose stack's).
MONGO_IMAGE = os.environ.get("OVERLORD_TEST_MONGO_IMAGE", "mongo:7.0.14")


def docker_engine_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


def image_here_or_pulled(image: str) -> bool:
    """Whether ``image`` is in the engine's store, pulling it if it is not (never raises)."""
    try:
        import docker

        client = docker.from_env(timeout=300)
        try:
            client.images.get(image)
            return True
        except docker.errors.ImageNotFound:
            repository, _, tag = image.rpartition(":")
            client.images.pull(repository, tag=tag)
            return True
    except Exception:
        return False


@functools.cache
def mongo_server_choice() -> tuple[str, str]:
    """Which MongoDB the session uses, as (kind, description); kind is uri, container or ferretdb.

    testcontainers only when its image is here or can be pulled, and Ryuk's image too
    (else Ryuk is switched off: the session removes its container itself); otherwise
    a FerretDB process. Never fails on a pull.
    """
    if os.environ.get("MONGODB_URI"):
        return "uri", "MONGODB_URI from the environment"
    if not docker_engine_answers():
        return "ferretdb", "FerretDB process (no Docker engine answers)"
    if not image_here_or_pulled(MONGO_IMAGE):
        return "ferretdb", f"FerretDB process ({MONGO_IMAGE} is neither here nor pullable)"
    from testcontainers.core.config import testcontainers_config

    ryuk = "with Ryuk"
    if testcontainers_config.ryuk_disabled:
        ryuk = "Ryuk off"
    elif not image_here_or_pulled(testcontainers_config.ryuk_image):
        testcontainers_config.ryuk_disabled = True
        ryuk = f"Ryuk off: {testcontainers_config.ryuk_image} is neither here nor pullable"
    return "container", f"testcontainers {MONGO_IMAGE} ({ryuk})"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    # chosen by the first test that needs MongoDB; a run without one (unit tests) pulls nothing
    if mongo_server_choice.cache_info().currsize:
        terminalreporter.write_line(f"MongoDB used: {mongo_server_choice()[1]}")
    # The simulator's seeds, so that any run can be replayed. From the reports: under
    # pytest-xdist the tests run in the workers, and only their reports (with their
    # user properties) come back; here, not in tests/simulation/conftest.py, which the
    # xdist controller never loads (it does not collect).
    from tests.simulation.conftest import PROPERTY

    for reports in terminalreporter.stats.values():
        for report in reports:
            for name, value in getattr(report, "user_properties", ()):
                if name == PROPERTY and getattr(report, "when", "call") == "call":
                    terminalreporter.write_line(f"{PROPERTY}, {value}")


def docker_required() -> bool:
    """CI (.ci/run) sets OVERLORD_REQUIRE_DOCKER=1: what docker-marked tests need (an
    engine, the worker image) missing is then a failure, not a skip."""
    return os.environ.get("OVERLORD_REQUIRE_DOCKER", "") not in ("", "0")


def skip_or_fail(reason: str) -> None:
    if docker_required():
        pytest.fail(f"{reason} (OVERLORD_REQUIRE_DOCKER is set)")
    pytest.skip(reason)


def pytest_configure(config: pytest.Config) -> None:
    """Record the product's AWS calls, in this process and its subprocesses, for the IAM
    coverage test (tests/infra/test_iam_coverage.py, run last).

    A file named by TEST_AWS_CALL_LOG already is kept: pytest-xdist's workers inherit
    their controller's, and `make test` names one so that the IAM test, run after the
    parallel suite, reads every worker's calls."""
    path = os.environ.get(awscalls.ENV_VAR) or str(
        Path(tempfile.mkdtemp(prefix="overlord-aws-calls-")) / "calls.jsonl"
    )
    os.environ.update(awscalls.session_environment(path))
    awscalls.install(path)
    # And the metrics (EMF) the product prints, for tests/infra/test_metric_coverage.py.
    os.environ[emf.ENV_VAR] = str(Path(path).with_name("emf.jsonl"))
    emf.install(os.environ[emf.ENV_VAR])


IAM_COVERAGE_TESTS = "tests/infra/test_iam_coverage.py"
METRIC_COVERAGE_TESTS = "tests/infra/test_metric_coverage.py"


# The groups that take longest (`make test PYTEST_FLAGS=--durations=0`: the FerretDB and
# fake histories 106 s and 80 s, each mode's e2e tests ~175 s, the console 126 s, the
# fault tests ~115 s), handed out first. pytest-xdist gives each worker its next group
# in collection order (make test passes --no-loadscope-reorder; by default it orders by
# the number of tests, which put the two history tests last: their 190 s on one worker,
# started last, were the run's critical path).
SLOW_GROUPS_FIRST = (
    "tests/simulation/test_histories.py::test_generated_histories_on_mongodb",
    "tests/simulation/test_histories.py::test_generated_histories_on_the_fake_store",
    "e2e-in-process",
    "e2e-rie",
    "tests/console/test_console.py",
    "faults",
)
ALONE = "tests/simulation/test_histories.py"  # each of its tests a group of its own


def xdist_group(item: pytest.Item) -> str:
    """Which pytest-xdist worker group a test runs in (`make test`, --dist loadgroup).

    A module's tests stay together, so a module-scoped server starts once. The
    end-to-end tests of one mode share the session-scoped `overlord dev` (`stack`),
    whatever their module; the fault tests (load, MongoDB stopped) and the
    docker-marked ones (containers found by label on one engine) run one at a time."""
    callspec = getattr(item, "callspec", None)
    mode = callspec.params.get("stack") if callspec else None
    if mode:
        return f"e2e-{mode}"
    if "faults" in item.keywords or item.nodeid.startswith("tests/faults/"):
        return "faults"
    if "docker" in item.keywords:
        return "docker"
    if item.nodeid.startswith(ALONE):
        return item.nodeid
    return item.nodeid.split("::", 1)[0]


def run_order(item: pytest.Item) -> tuple[bool, int]:
    """Coverage tests last; among the rest the slow groups first, the others in order."""
    group = xdist_group(item)
    slow = SLOW_GROUPS_FIRST.index(group) if group in SLOW_GROUPS_FIRST else len(SLOW_GROUPS_FIRST)
    return item.nodeid.startswith((IAM_COVERAGE_TESTS, METRIC_COVERAGE_TESTS)), slow


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The IAM coverage test reads what every other test recorded: it goes last.
    # So does the metric coverage test, with the metrics.
    items.sort(key=run_order)
    for item in items:
        item.add_marker(pytest.mark.xdist_group(xdist_group(item)))
    if docker_engine_answers():
        return
    if docker_required():
        raise pytest.UsageError("OVERLORD_REQUIRE_DOCKER is set but no Docker engine answers")
    skip = pytest.mark.skip(reason="no Docker engine answers here")
    for item in items:
        if "docker" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def mongodb_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """MONGODB_URI if set, else a testcontainers mongo, else a FerretDB process."""
    kind, _ = mongo_server_choice()
    if kind == "uri":
        yield os.environ["MONGODB_URI"]
    elif kind == "container":
        from testcontainers.mongodb import MongoDbContainer

        with MongoDbContainer(MONGO_IMAGE) as mongo:
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
def tasks_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The catalogue the integration tests run with: the repository's and `anything`."""
    return catalogue_copy(tmp_path_factory.mktemp("tasks"), ANY_PARAMETERS_TASK)


def simple_batch(endpoint: str) -> None:
    """moto's Batch without Docker, wherever the tests run.

    By default moto runs each Batch job in a container when a Docker engine answers
    (pulling the job definition's image, per job, from a registry this machine cannot
    reach) and fails it at once where none does: what the tests saw depended on the
    engine, and a 2,000-child array started 2,000 pulling threads that starved other
    tests. Its "simple" Batch runs nothing; MOTO_SIMPLE_BATCH_FAIL_AFTER=0 (set by the
    fixture) ends every job FAILED at once, as the engine-less runs always did. The jobs
    the tests run for real go to the local Batch, never to moto.
    """
    response = requests.post(
        f"{endpoint}/moto-api/config", json={"batch": {"use_docker": False}}, timeout=10
    )
    response.raise_for_status()


@pytest.fixture(scope="session")
def moto_endpoint(tasks_dir: Path) -> Iterator[str]:
    """A moto server on a free port, AWS_* pointing at it, with what the flow needs."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    simple_batch(endpoint)
    with environment(
        MOTO_SIMPLE_BATCH_FAIL_AFTER="0",
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        RESULTS_BUCKET=RESULTS_BUCKET,
        JOB_QUEUE=JOB_QUEUE,
        OVERLORD_TASKS_DIR=str(tasks_dir),
    ):
        aws_bootstrap.ensure_bucket(RESULTS_BUCKET)
        aws_bootstrap.ensure_log_group()
        aws_bootstrap.ensure_batch(
            JOB_QUEUE, aws_bootstrap.load_definitions("overlord-worker", tasks_dir)
        )
        yield endpoint
    server.stop()


@pytest.fixture
def app_env(db: Database, mongodb_uri: str, moto_endpoint: str) -> Iterator[dict[str, str]]:
    """The Lambdas' environment for one test: its own database, the shared moto server."""
    values = {
        "MONGODB_URI": mongodb_uri,
        "DB_NAME": db.name,
        "JOB_QUEUE": JOB_QUEUE,
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
