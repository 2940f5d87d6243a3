"""Start `overlord dev` as a separate process, exactly as a person does, and wait for it.

Used by the end-to-end tests and the benchmarks, so both measure the real thing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from overlord_local.client import ApiClient, read_env_file, static_credentials
from overlord_local.devstack.processes import PROJECT_ROOT, free_port
from overlord_local.pdeathsig import die_with_parent


def http(
    method: str, url: str, body: Any = None, timeout: float = 30, credentials: Any = None
) -> tuple[int, Any]:
    """One JSON request, SigV4-signed with `credentials` when given (else unsigned);
    HTTP errors are returned, connection errors raised."""
    parts = urlsplit(url)
    client = ApiClient(f"{parts.scheme}://{parts.netloc}", credentials, timeout=timeout)
    query = parse_qsl(parts.query, keep_blank_values=True)
    response = client.request(method, parts.path, query=query, body=body)
    return response.status, response.body


@dataclass
class RunningDev:
    proc: subprocess.Popen
    url: str
    state_dir: Path

    @property
    def output(self) -> Path:
        return self.state_dir / "dev.out"

    @property
    def env(self) -> dict[str, str]:
        """What the stack wrote to dev.env (its URL, endpoints and credentials)."""
        return read_env_file(self.state_dir / "dev.env")

    @property
    def credentials(self) -> Any:
        env = self.env
        return static_credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])

    def client(self, timeout: float = 30) -> ApiClient:
        return ApiClient(
            self.url, self.credentials, self.env.get("AWS_REGION", "us-east-1"), timeout
        )

    def stop(self, timeout: float = 30) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_dev(
    state_dir: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 90
) -> RunningDev:
    """`overlord dev` on a free port with its state in `state_dir`; returns once healthy.

    The parent's AWS_* and OVERLORD_* variables are not passed on: the stack makes its own.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OVERLORD_"))}
    child_env["PATH"] = f"{Path(sys.executable).parent}:{child_env.get('PATH', '')}"
    child_env.update(env or {})
    command = [
        sys.executable,
        "-m",
        "overlord_local.cli",
        "dev",
        "--port",
        str(port),
        "--state-dir",
        str(state_dir),
        *args,
    ]
    out = open(state_dir / "dev.out", "wb")  # noqa: SIM115 - the child holds it
    proc = subprocess.Popen(
        command,
        env=child_env,
        cwd=PROJECT_ROOT,
        stdout=out,
        stderr=out,
        # A killed test run or benchmark takes its stack along (SIGTERM: the stack's own
        # clean stop) instead of leaving it holding ports and a FerretDB.
        preexec_fn=die_with_parent(signal.SIGTERM),
    )
    out.close()
    running = RunningDev(proc, f"http://127.0.0.1:{port}", state_dir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"overlord dev exited:\n{running.output.read_text()[-3000:]}")
        try:
            if http("GET", running.url + "/health", timeout=2)[0] == 200:
                return running
        except OSError:
            pass
        time.sleep(0.2)
    running.stop()
    raise RuntimeError(f"overlord dev did not answer:\n{running.output.read_text()[-3000:]}")
