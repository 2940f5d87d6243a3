"""A running Overlord for end-to-end tests: `overlord dev` started as a user starts it.

Both modes run: handlers in-process, and handlers under the Lambda runtime emulator.
With OVERLORD_E2E_API_URL set (the compose stack's gateway in CI: .ci/run), the tests
use that stack instead, reading MongoDB from MONGODB_URI / DB_NAME. (Not the CLI's
OVERLORD_API_URL, which a shell may well have set for other reasons.)

With OVERLORD_E2E_DEPLOYED=1 as well (a stack on AWS: terraform/scripts/ci-stack.sh
verify), tests that start a local stack of their own are skipped: only the suite
against that URL runs, and of it what needs no local process control or clock.

With OVERLORD_CHAOS=1 (`make e2e-chaos`) each `overlord dev` runs with --chaos: events
duplicated, delayed and reordered, SubmitJob's answers held (overlord_local.chaos), the
seed from OVERLORD_CHAOS_SEED or a new one, printed at the end of the run. Then, or with
OVERLORD_E2E_INVARIANTS=1, each stack's database is checked once its tests are done
(tests/support/invariants.py); a violation is an error at the teardown of the last test
that used the stack.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from pymongo.database import Database

from overlord_local.chaos import Chaos, switch_on
from overlord_local.client import ApiClient, region_for
from overlord_local.devstack.running import start_dev
from tests.support import invariants
from tests.support.waiting import wait_for

# Read once: the stacks this session starts get the same seed.
CHAOS = Chaos.from_env()
CHECK_INVARIANTS = CHAOS is not None or switch_on(os.environ.get("OVERLORD_E2E_INVARIANTS", ""))
INVARIANT_REPORTS: list[str] = []
MAX_VCPUS = 1  # with 0.25 vCPU per job: four at a time
TIMEOUT_SCALE = 0.05  # a 60 s job timeout lasts 3 s
# How much longer than locally a deployed stack may take to run a job (Stack.wait_for).
WAIT_SCALE = float(os.environ.get("OVERLORD_E2E_WAIT_SCALE") or 1)
# Between polls: every GET is a Lambda invocation on a deployed stack.
POLL_SECONDS = 0.05 if WAIT_SCALE <= 1 else 2.0


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            children = (
                (task / "children").read_text().split() if (task / "children").exists() else []
            )
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@dataclass
class Stack:
    url: str
    db: Database
    mode: str
    proc: subprocess.Popen | None = None
    state_dir: Path | None = None
    log: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    credentials: Any = None  # what requests are signed with (the stack's own, locally)
    env: dict[str, str] = field(default_factory=dict)  # the stack's dev.env

    @property
    def local(self) -> bool:
        return self.proc is not None

    @property
    def s3(self) -> Any:
        """boto3's S3 client on the local stack's S3, with the stack's credentials."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.env["AWS_ENDPOINT_URL"],
            region_name=self.env.get("AWS_REGION", "us-east-1"),
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
        )

    @property
    def client(self) -> ApiClient:
        return ApiClient(self.url, self.credentials, region_for(self.url))

    def post(self, path: str, body: Any = None) -> tuple[int, Any]:
        response = self.client.post(path, body)
        return response.status, response.body

    def get(self, path: str, query: Any = None) -> tuple[int, Any]:
        response = self.client.get(path, query)
        return response.status, response.body

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        status, result = self.post("/jobs", {**body, "key": uuid.uuid4().hex})
        assert status == 202, result
        return result

    def wait_for(self, job_id: str, statuses: set[str], timeout: float = 90.0) -> dict[str, Any]:
        """90 s by default: under `make up` on a loaded machine an echo job took over 30 s.
        Times OVERLORD_E2E_WAIT_SCALE: on AWS a Fargate task takes a minute or more to
        start (terraform/scripts/ci-stack.sh sets 6)."""
        timeout *= WAIT_SCALE
        deadline = time.monotonic() + timeout
        while True:
            status, job = self.get(f"/jobs/{job_id}")
            assert status == 200, job
            if job["status"] in statuses:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"{job_id} still {job['status']} after {timeout}s")
            time.sleep(POLL_SECONDS)

    def wait_for_array(self, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """The array job once it has ended and every child's end is recorded: events of
        the parent and of its children arrive concurrently, in no promised order (as
        from EventBridge), so the parent may be recorded FAILED before a child is."""
        deadline = time.monotonic() + timeout * WAIT_SCALE
        while True:
            job = self.wait_for(job_id, {"SUCCEEDED", "FAILED"}, timeout)
            counts = job["array"]["counts"]
            ended = counts.get("SUCCEEDED", 0) + counts.get("FAILED", 0)
            if ended == job["array"]["size"]:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"{job_id}: children still {counts} after {timeout}s")
            time.sleep(POLL_SECONDS)


def cli_env(stack: Stack) -> dict[str, str]:
    """The environment of an `overlord` command aimed at this stack: its URL, and its
    credentials found by botocore's chain (the environment), as a user's would be."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OVERLORD_"))}
    env["OVERLORD_API_URL"] = stack.url
    if stack.credentials is not None:
        frozen = stack.credentials.get_frozen_credentials()
        env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = (
            frozen.access_key,
            frozen.secret_key,
        )
        if frozen.token:
            env["AWS_SESSION_TOKEN"] = frozen.token
    env["AWS_REGION"] = stack.env.get("AWS_REGION", os.environ.get("AWS_REGION", "us-east-1"))
    return env


DEPLOYED = bool(os.environ.get("OVERLORD_E2E_DEPLOYED")) and bool(
    os.environ.get("OVERLORD_E2E_API_URL")
)


# Stops its stack: it must be the last test of its mode, whatever the file order.
STOPS_THE_STACK = "test_stopping_leaves_no_process"


def _stack_mode(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("stack") if callspec else None


@pytest.hookimpl(trylast=True)  # after pytest has grouped the tests by stack mode
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for stop in [i for i in items if i.name.startswith(STOPS_THE_STACK)]:
        items.remove(stop)
        mode = _stack_mode(stop)
        last = max((n for n, i in enumerate(items) if _stack_mode(i) == mode), default=None)
        items.insert(len(items) if last is None else last + 1, stop)
    if not DEPLOYED:
        return
    skip = pytest.mark.skip(reason="starts its own local stack; this run targets a deployed one")
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents and "stack" not in getattr(item, "fixturenames", ()):
            item.add_marker(skip)


# An external stack runs in its one mode; `overlord dev` in both.
MODES = ["external"] if os.environ.get("OVERLORD_E2E_API_URL") else ["in-process", "rie"]


@pytest.fixture(scope="session", params=MODES)
def stack(request, tmp_path_factory, mongodb_uri, mongo_client) -> Iterator[Stack]:
    external = os.environ.get("OVERLORD_E2E_API_URL")
    if external:
        yield Stack(
            external.rstrip("/"),
            mongo_client[os.environ.get("DB_NAME", "overlord")],
            "external",
            credentials=botocore.session.Session().get_credentials(),
        )
        return
    tmp = tmp_path_factory.mktemp(f"dev-{request.param}")
    db_name = f"e2e_{uuid.uuid4().hex[:8]}"
    args = [
        "--max-vcpus",
        str(MAX_VCPUS),
        "--timeout-scale",
        str(TIMEOUT_SCALE),
        "--reconcile-every",
        "0",
        *(["--rie"] if request.param == "rie" else []),
        *(["--chaos", "--chaos-seed", str(CHAOS.seed)] if CHAOS is not None else []),
    ]
    dev = start_dev(tmp, *args, env={"MONGODB_URI": mongodb_uri, "DB_NAME": db_name})
    if CHAOS is not None:  # the stack says so, with the seed to replay (once it has started)
        wait_for(
            lambda: f"chaos on, seed {CHAOS.seed}" in dev.output.read_text(),
            60,
            "overlord dev printing its chaos seed",
        )
    try:
        yield Stack(
            dev.url,
            mongo_client[db_name],
            request.param,
            dev.proc,
            tmp,
            dev.output,
            credentials=dev.credentials,
            env=dev.env,
        )
        if CHECK_INVARIANTS:
            # Before the stack stops: held events may still be on their way.
            problems = invariants.check(mongo_client[db_name], settle=180)
            INVARIANT_REPORTS.append(
                f"{request.param} stack ({db_name}): "
                + (f"{len(problems)} violation(s)" if problems else "invariants hold")
            )
            if problems:
                pytest.fail(
                    f"invariants broken on the {request.param} stack's database {db_name}"
                    + (f" (chaos seed {CHAOS.seed})" if CHAOS else "")
                    + ":\n"
                    + "\n".join(problems),
                    pytrace=False,
                )
    finally:
        dev.stop()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if CHAOS is not None:
        terminalreporter.write_line(
            f"e2e with chaos, seed {CHAOS.seed} (replay: OVERLORD_CHAOS=1 "
            f"OVERLORD_CHAOS_SEED={CHAOS.seed})"
        )
    for report in INVARIANT_REPORTS:
        terminalreporter.write_line(report)
