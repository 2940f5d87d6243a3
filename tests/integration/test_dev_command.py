"""`overlord dev` refusing to start, clearly, when it cannot."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from overlord_local.devstack.gotools import FERRETDB, find
from overlord_local.devstack.running import start_dev


def test_no_mongodb_no_ferretdb_no_go_fails_at_once_naming_the_fixes(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "env"):  # a PATH with the basics, but no go and no ferretdb
        if found := shutil.which(tool):
            (bin_dir / tool).symlink_to(found)
    env = {
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "PATH": str(bin_dir),
        "OVERLORD_TOOLS_BIN": str(tmp_path / "tools"),
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "overlord_local.cli",
            "dev",
            "--port",
            "0",
            "--state-dir",
            str(tmp_path / "state"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    message = proc.stderr
    assert "no MongoDB available" in message
    for fix in ("MONGODB_URI", "install Go", "FERRETDB_BIN"):
        assert fix in message
    assert not Path(tmp_path / "state" / "dev.env").exists()


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found.update(map(int, (task / "children").read_text().split()))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_sigkilled_dev_leaves_no_ferretdb_or_job_behind(tmp_path):
    """Also: `--fail-submit-*` reach the local Batch (a 5xx-lost job runs after a 500)."""
    ferretdb = find(FERRETDB)
    if ferretdb is None:
        pytest.skip("no ferretdb binary (make tools)")
    dev = start_dev(
        tmp_path / "state",
        "--reconcile-every",
        "0",
        *("--fail-submit-rate", "1", "--fail-submit-kinds", "5xx-lost", "--fail-seed", "1"),
        env={"MONGODB_URI": "", "FERRETDB_BIN": str(ferretdb)},
    )
    pids: set[int] = set()
    try:
        env = dict(
            line.split("=", 1) for line in (tmp_path / "state" / "dev.env").read_text().split()
        )
        batch = boto3.client(
            "batch",
            endpoint_url=env["AWS_ENDPOINT_URL_BATCH"],
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
            config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
        )
        batch.register_job_definition(
            jobDefinitionName="sleeper",
            type="container",
            # The one image `make dev`'s process executor runs (others fail to start).
            containerProperties={"image": "overlord-worker:local", "command": ["sleep", "120"]},
        )
        with pytest.raises(batch.exceptions.ServerException):
            batch.submit_job(jobName="sleeper", jobQueue=env["JOB_QUEUE"], jobDefinition="sleeper")
        names = {}
        deadline = time.monotonic() + 60  # generous: a loaded machine starts processes slowly
        while time.monotonic() < deadline and "sleep" not in names.values():
            names = {
                p: Path(f"/proc/{p}/comm").read_text().strip() for p in _children(dev.proc.pid)
            }
            time.sleep(0.1)
        assert "sleep" in names.values(), f"the job did not start: {names}"
        assert "ferretdb" in names.values(), names
        pids = set(names)

        dev.proc.send_signal(signal.SIGKILL)
        dev.proc.wait(10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.05)
        assert not [names[p] for p in pids if _alive(p)], "outlived the killed `overlord dev`"
    finally:
        dev.stop()
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_killed_starter_takes_its_dev_stack_along(tmp_path):
    """A test run or benchmark killed mid-way (SIGKILL: no cleanup) must not leave its
    `overlord dev` running: one was found still holding its ports and FerretDB."""
    ferretdb = find(FERRETDB)
    if ferretdb is None:
        pytest.skip("no ferretdb binary (make tools)")
    starter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "from overlord_local.devstack.running import start_dev\n"
            "dev = start_dev(Path(sys.argv[1]), '--reconcile-every', '0',"
            " env={'MONGODB_URI': '', 'FERRETDB_BIN': sys.argv[2]})\n"
            "print(dev.proc.pid, flush=True)\n"
            "time.sleep(300)\n",
            str(tmp_path / "state"),
            str(ferretdb),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    dev_pid = 0
    try:
        assert starter.stdout is not None
        dev_pid = int(starter.stdout.readline())
        assert _alive(dev_pid)
        starter.send_signal(signal.SIGKILL)
        starter.wait(10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _alive(dev_pid):
            time.sleep(0.1)
        assert not _alive(dev_pid), "overlord dev outlived the process that started it"
    finally:
        starter.kill()
        if dev_pid and _alive(dev_pid):
            os.kill(dev_pid, signal.SIGKILL)
