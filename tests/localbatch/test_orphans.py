"""A SIGKILLed local Batch leaves no job processes behind (Linux: PR_SET_PDEATHSIG)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.localbatch.conftest import CREDENTIALS
from tests.localbatch.test_cli import free_port
from tests.support.waiting import wait_for

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's"
)


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def gone_within(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(alive(p) for p in pids):
            return []
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def test_sigkilled_server_takes_its_job_processes_along(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "overlord_local.localbatch", "--port", str(port), "--queue", "q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pid_file = tmp_path / "job.pid"
    job_pid = None
    try:
        batch: Any = boto3.client("batch", endpoint_url=f"http://127.0.0.1:{port}", **CREDENTIALS)

        def up() -> bool:
            try:
                return bool(batch.describe_job_queues()["jobQueues"])
            except Exception:
                return False

        wait_for(up, timeout=20)
        script = (
            f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); "
            "time.sleep(120)"
        )
        batch.register_job_definition(
            jobDefinitionName="sleeper",
            type="container",
            containerProperties={"image": "i", "command": ["python", "-c", script]},
        )
        batch.submit_job(jobName="sleeper", jobQueue="q", jobDefinition="sleeper")
        wait_for(lambda: pid_file.exists() and pid_file.read_text(), timeout=20)
        job_pid = int(pid_file.read_text())
        assert alive(job_pid)

        server.send_signal(signal.SIGKILL)
        server.wait(10)
        assert gone_within([job_pid], 5) == [], "the job process outlived the killed server"
    finally:
        if server.poll() is None:
            server.kill()
        if job_pid is not None and alive(job_pid):
            import os

            os.kill(job_pid, signal.SIGKILL)
