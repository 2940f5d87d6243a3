"""``python -m overlord_local.localbatch`` as a real process."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3

from tests.localbatch.conftest import CREDENTIALS
from tests.support.waiting import wait_for

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_cli_serves_bootstraps_and_stops(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "overlord_local.localbatch",
            "--port",
            str(port),
            "--queue",
            "cli-queue",
            "--max-vcpus",
            "2",
            "--tasks",
            str(CONTRACTS / "tasks"),
            "--event-target",
            "http://127.0.0.1:9/2015-03-31/functions/function/invocations",
            "--event-job-queue",
            "cli-queue",
            "--dead-letter",
            str(tmp_path / "dlq.jsonl"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        batch: Any = boto3.client("batch", endpoint_url=f"http://127.0.0.1:{port}", **CREDENTIALS)

        def queues() -> list[dict[str, Any]] | None:
            try:
                found: list[dict[str, Any]] = batch.describe_job_queues()["jobQueues"]
            except Exception:
                return None
            return found

        [queue] = wait_for(queues, timeout=20)
        assert queue["jobQueueName"] == "cli-queue"
        [ce] = batch.describe_compute_environments()["computeEnvironments"]
        assert ce["computeResources"]["maxvCpus"] == 2
        definitions = batch.describe_job_definitions()["jobDefinitions"]
        by_name = {d["jobDefinitionName"]: d for d in definitions}
        tasks = sorted(p.stem for p in (CONTRACTS / "tasks").glob("*.json"))
        assert sorted(by_name) == [f"overlord-{t}" for t in tasks]
        assert by_name["overlord-echo"]["containerProperties"]["image"] == "overlord-worker:local"
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, output.decode()
    assert b"stopping" in output
