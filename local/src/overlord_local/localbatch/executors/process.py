"""Run an attempt as a local subprocess (the default executor; no Docker needed).

* A leading ``python``/``python3`` becomes ``sys.executable``, so jobs run in the
  server's virtualenv. The image is not used; with ``only_images`` (the worker image,
  whose code is that virtualenv's), an attempt of any other image fails to start, as
  AWS fails a job whose image cannot be pulled (CannotPullContainerError).
* The child gets the server's environment (less its MongoDB secrets) plus the
  spec's (the spec wins), runs in its own session (process group), and has stdout
  and stderr merged into one stream that is shipped line by line to CloudWatch Logs.
* ``kill`` sends SIGTERM to the whole group, then SIGKILL after ``kill_grace``
  seconds (AWS waits 30 s; the default here is shorter for a dev loop).
  ``shutdown`` kills every live group, so the server leaves no orphans; and when the
  server is killed outright (SIGKILL), the kernel kills each job process with it
  (Linux, ``overlord_local.pdeathsig``: through ``setpriv`` where it is installed, which
  keeps ``subprocess`` on its cheap ``vfork`` path, else a ``preexec_fn``). The command
  is looked up on the job's PATH first, so a missing one still fails to start
  (CannotStartContainerError) rather than running ``setpriv`` to exit 127.
* With ``preload`` (``make dev``: the worker's libraries), a ``python -m MODULE …``
  command is forked from a warm interpreter (``overlord_local.forkserver``) instead of
  starting a fresh one: the same process semantics, without re-importing boto3 for
  every array child.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Collection, Sequence
from typing import IO, Any

from overlord_local.forkserver import ForkedProcess, ForkServer
from overlord_local.localbatch.executors.base import (
    CANNOT_PULL,
    CANNOT_START,
    ContainerSpec,
    ExecutorError,
    Outcome,
    signal_exit_code,
)
from overlord_local.localbatch.executors.cwlogs import LogShipper
from overlord_local.localbatch.executors.tracking import TrackingExecutor, default_logs_client
from overlord_local.pdeathsig import die_with_parent, exec_prefix

log = logging.getLogger(__name__)


def resolve_command(command: list[str]) -> list[str]:
    if command and command[0] in ("python", "python3"):
        return [sys.executable, *command[1:]]
    return list(command)


def python_module(command: list[str]) -> tuple[str, list[str]] | None:
    """(module, arguments) of ``[sys.executable, "-m", module, …]``, else None."""
    if len(command) >= 3 and command[0] == sys.executable and command[1] == "-m":
        return command[2], command[3:]
    return None


class ProcessContainer:
    """One running subprocess attempt (``Popen``'d, or forked by the fork server)."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes] | ForkedProcess,
        shipper: LogShipper,
        kill_grace: float,
    ) -> None:
        self._proc = proc
        self._shipper = shipper
        self._kill_grace = kill_grace
        self._closed = False
        output = proc.stdout if isinstance(proc, subprocess.Popen) else os.fdopen(proc.output, "rb")
        self._reader = threading.Thread(
            target=self._pump, args=(output,), name=f"out:{proc.pid}", daemon=True
        )
        self._reader.start()

    def _exit_code(self, timeout: float | None) -> int | None:
        if isinstance(self._proc, ForkedProcess):
            return self._proc.wait(timeout)
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _pump(self, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        with stream:
            for raw in iter(stream.readline, b""):
                self._shipper.write(raw.decode("utf-8", errors="replace"))

    def wait(self, timeout: float | None = None) -> Outcome | None:
        returncode = self._exit_code(timeout)
        if returncode is None:
            return None
        if not self._closed:
            self._closed = True
            self._reader.join(5)
            self._shipper.close()
        return Outcome(exit_code=signal_exit_code(returncode))

    def kill(self) -> None:
        if self._proc.poll() is not None:
            return
        self._signal(signal.SIGTERM)
        if self._exit_code(self._kill_grace) is None:
            self._signal(signal.SIGKILL)
            self._exit_code(None)

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signum)


# The server's own secrets: a Batch container on AWS never has them (the worker does not
# talk to MongoDB), and a task that prints its environment must not show the password.
NOT_FOR_JOBS = frozenset({"MONGODB_URI", "MONGODB_SECRET_ARN"})


class ProcessExecutor(TrackingExecutor):
    """Executor that runs each attempt's command as a subprocess of the server."""

    def __init__(
        self,
        logs_client: Any | None = None,
        *,
        kill_grace: float = 5.0,
        cwd: str | None = None,
        logs_client_factory: Callable[[], Any] = default_logs_client,
        only_images: Collection[str] | None = None,
        preload: Sequence[str] = (),
    ) -> None:
        super().__init__(logs_client, logs_client_factory, kill_grace)
        self._cwd = cwd
        self._only_images = frozenset(only_images) if only_images is not None else None
        # Python jobs fork from a warm interpreter that imported these (Linux: fork).
        usable = preload and hasattr(os, "fork") and sys.platform.startswith("linux")
        server_env = {k: v for k, v in os.environ.items() if k not in NOT_FOR_JOBS}
        self._fork_server = ForkServer(preload, server_env) if usable else None

    def start(self, spec: ContainerSpec) -> ProcessContainer:
        if self._only_images is not None and spec.image not in self._only_images:
            runs = ", ".join(sorted(self._only_images))
            raise ExecutorError(
                f"{CANNOT_PULL}: the process executor runs only {runs} (as local processes); "
                f"{spec.image} needs the docker executor (make up)"
            )
        command = resolve_command(spec.command)
        if not command:
            raise ExecutorError(f"{CANNOT_START}: the job has no command")
        inherited = {k: v for k, v in os.environ.items() if k not in NOT_FOR_JOBS}
        env = {**inherited, **spec.environment}
        module = python_module(command)
        if self._fork_server is not None and module is not None:
            return self._start_forked(spec, *module, env)
        prefix = exec_prefix()
        if prefix is not None:
            command = [*prefix, self._executable(command[0], env), *command[1:]]
        try:
            proc = subprocess.Popen(
                command,
                env=env,
                cwd=self._cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=None if prefix is not None else die_with_parent(),
            )
        except OSError as exc:
            raise ExecutorError(f"{CANNOT_START}: {exc}") from exc
        shipper = LogShipper(self.logs_client, spec.log_group, spec.log_stream)
        container = ProcessContainer(proc, shipper, self._kill_grace)
        self._track(container, still_running=lambda c: c._proc.poll() is None)
        log.info("job %s attempt %d: started pid %d", spec.batch_job_id, spec.attempt, proc.pid)
        return container

    def _start_forked(
        self, spec: ContainerSpec, module: str, args: list[str], env: dict[str, str]
    ) -> ProcessContainer:
        assert self._fork_server is not None
        try:
            proc = self._fork_server.spawn(module, args, env, self._cwd)
        except OSError as exc:
            raise ExecutorError(f"{CANNOT_START}: {exc}") from exc
        shipper = LogShipper(self.logs_client, spec.log_group, spec.log_stream)
        container = ProcessContainer(proc, shipper, self._kill_grace)
        self._track(container, still_running=lambda c: c._proc.poll() is None)
        log.info("job %s attempt %d: forked pid %d", spec.batch_job_id, spec.attempt, proc.pid)
        return container

    def shutdown(self) -> None:
        super().shutdown()
        if self._fork_server is not None:
            self._fork_server.stop()

    def _executable(self, name: str, env: dict[str, str]) -> str:
        """``name`` as ``Popen`` would find it (the job's PATH, or relative to its cwd)."""
        if os.sep in name:
            path = os.path.join(self._cwd or os.getcwd(), name)
            found = path if os.access(path, os.X_OK) and os.path.isfile(path) else None
        else:
            found = shutil.which(name, path=env.get("PATH", os.defpath))
        if found is None:
            raise ExecutorError(f"{CANNOT_START}: [Errno 2] No such file or directory: {name!r}")
        return found
