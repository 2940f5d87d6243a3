"""Start `overlord dev` as a separate process, exactly as a person does, and wait for it.

Used by the end-to-end tests and the benchmarks, so both measure the real thing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from overlord_local.devstack.processes import PROJECT_ROOT, free_port


def http(method: str, url: str, body: Any = None, timeout: float = 30) -> tuple[int, Any]:
    """One JSON request; HTTP errors are returned, connection errors raised."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - a local http URL
        url, data=data, method=method, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@dataclass
class RunningDev:
    proc: subprocess.Popen
    url: str
    state_dir: Path

    @property
    def output(self) -> Path:
        return self.state_dir / "dev.out"

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
    proc = subprocess.Popen(command, env=child_env, cwd=PROJECT_ROOT, stdout=out, stderr=out)
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
