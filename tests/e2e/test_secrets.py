"""The MongoDB password never leaves the URI: not in logs, error bodies or documents.

`overlord dev` runs against a FerretDB of this module's own, reached with a URI that
carries a password (FerretDB's SQLite backend accepts any user and password with the
PLAIN mechanism, so the password travels as a real one would). A submission runs to
SUCCEEDED, then FerretDB is stopped and a second submission fails with MongoDB
unreachable. Everything the stack wrote (its output and log files), every HTTP body
and every stored document is then searched for the password.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from overlord_local.devstack.ferretdb import FerretDB, MongoUnavailable
from overlord_local.devstack.running import RunningDev, http, start_dev
from tests.e2e.conftest import descendants

pytestmark = pytest.mark.e2e


def test_the_mongodb_password_appears_in_no_log_error_or_document(tmp_path: Path):
    password = f"pw-{uuid.uuid4().hex}"
    server = FerretDB(tmp_path / "ferretdb")
    try:
        server.start()
    except MongoUnavailable as exc:
        pytest.skip(f"no FerretDB here: {exc}")
    uri = f"mongodb://overlord:{password}@127.0.0.1:{server.port}/?authMechanism=PLAIN"
    state = tmp_path / "dev"
    db_name = "secrets"
    answers: list[Any] = []
    try:
        dev = start_dev(
            state, "--reconcile-every", "0", env={"MONGODB_URI": uri, "DB_NAME": db_name}
        )
        try:
            status, created = http(
                "POST", dev.url + "/jobs", _echo("the happy path"), credentials=dev.credentials
            )
            answers.append(created)
            assert status == 202, created
            _wait_until_finished(dev, created["job_id"], answers)

            # A job's process gets what a Batch container gets, and on AWS that is no
            # MongoDB URI: the worker never talks to MongoDB.
            status, sleeping = http(
                "POST", dev.url + "/jobs", _sleep(3), credentials=dev.credentials
            )
            assert status == 202, sleeping
            job_environments = _worker_environments(dev.proc.pid)
            assert job_environments, "no worker process seen"
            _wait_until_finished(dev, sleeping["job_id"], answers)

            client: MongoClient = MongoClient(uri, serverSelectionTimeoutMS=5000)
            documents = [
                doc for name in ("jobs", "runs", "logs") for doc in client[db_name][name].find()
            ]
            client.close()
            assert len(documents) > 3  # a job, a run and its log lines were written

            server.stop()
            status, failed = http(
                "POST",
                dev.url + "/jobs",
                _echo("mongo is down"),
                timeout=60,
                credentials=dev.credentials,
            )
            answers.append(failed)
            assert status == 503, failed
        finally:
            dev.stop()
    finally:
        server.stop()

    written = {
        str(path.relative_to(state)): path.read_text(errors="replace")
        for path in state.rglob("*")
        if path.is_file() and "ferretdb" not in path.parts
    }
    assert "dev.out" in written
    leaks = [name for name, text in written.items() if password in text]
    assert leaks == [], f"the password is in {leaks}"
    assert password not in json.dumps(answers)
    assert password not in json.dumps(documents, default=str)
    assert not [env for env in job_environments if password.encode() in env]
    # The search sees what the handlers logged: their JSON lines are in dev.out.
    assert '"service":"overlord-submitter"' in written["dev.out"]


def _echo(message: str) -> dict[str, Any]:
    return {"task": "echo", "parameters": {"message": message}, "key": uuid.uuid4().hex}


def _sleep(seconds: int) -> dict[str, Any]:
    return {"task": "sleep", "parameters": {"seconds": seconds}, "key": uuid.uuid4().hex}


def _worker_environments(dev_pid: int, timeout: float = 15) -> list[bytes]:
    """The environment blocks of the running worker processes under `overlord dev`:
    fresh interpreters (`python -m overlord_worker`) or jobs forked from the local Batch's
    fork server, whose command line and initial environment block are the server's (so the
    server's environment is what a job can read in /proc/self/environ)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = []
        for pid in descendants(dev_pid):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                if b"overlord_worker" in cmdline or b"overlord_local.forkserver" in cmdline:
                    found.append(Path(f"/proc/{pid}/environ").read_bytes())
            except OSError:
                continue
        if found:
            return found
        time.sleep(0.05)
    return []


def _wait_until_finished(dev: RunningDev, job_id: str, answers: list[Any]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, job = http("GET", f"{dev.url}/jobs/{job_id}", credentials=dev.credentials)
        assert status == 200, job
        answers.append(job)
        if job.get("status") in {"SUCCEEDED", "FAILED"}:
            assert job["status"] == "SUCCEEDED", job
            return
        time.sleep(0.1)
    raise AssertionError(f"{job_id} did not finish")
