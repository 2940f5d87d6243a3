"""Run an attempt as a Docker container through the Docker SDK (``docker`` package).

* ``containers.run(detach=True)`` with the spec's image, command and environment,
  ``nano_cpus`` from the vCPUs and ``mem_limit`` from the memory (MiB); the image
  is pulled when it is not present.
* Output (stdout and stderr) is followed with ``container.logs(stream=True,
  follow=True)`` and shipped to CloudWatch Logs like the process executor does.
* Exit: ``container.wait()`` runs in a thread; its ``StatusCode`` is the exit code.
  ``State.OOMKilled`` maps to AWS's reason
  "OutOfMemoryError: Container killed due to memory usage".
* ``kill`` is ``container.stop(timeout=kill_grace)`` (SIGTERM, then SIGKILL).
* Finished containers are removed.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import re
import threading
from collections.abc import Callable
from typing import Any

from overlord_local.localbatch.executors.base import (
    CANNOT_START,
    OUT_OF_MEMORY,
    ContainerSpec,
    ExecutorError,
    Outcome,
)
from overlord_local.localbatch.executors.cwlogs import LogShipper
from overlord_local.localbatch.executors.tracking import TrackingExecutor, default_logs_client

log = logging.getLogger(__name__)
LABEL = "overlord_local.localbatch"


def container_name(spec: ContainerSpec) -> str:
    """batch-<job id>-<attempt>, in the characters Docker allows in a name: an array
    child's id is <parent>:<index>, and Docker refuses the ':'."""
    return re.sub(r"[^a-zA-Z0-9_.-]", "_", f"batch-{spec.batch_job_id}-{spec.attempt}")


def docker_sdk() -> Any:
    """The ``docker`` SDK, imported lazily (and typed loosely: the SDK ships no stubs)."""
    return importlib.import_module("docker")


def docker_from_env() -> Any:
    return docker_sdk().from_env()


class DockerContainer:
    """One running container attempt."""

    def __init__(self, container: Any, shipper: LogShipper, kill_grace: float) -> None:
        self._container = container
        self._shipper = shipper
        self._kill_grace = kill_grace
        self._done = threading.Event()
        self._outcome: Outcome | None = None
        self._lock = threading.Lock()
        self._logs = threading.Thread(target=self._follow_logs, daemon=True)
        self._logs.start()
        threading.Thread(target=self._wait_exit, daemon=True).start()

    def _follow_logs(self) -> None:
        pending = b""
        try:
            for chunk in self._container.logs(stream=True, follow=True, stdout=True, stderr=True):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    self._shipper.write(line.decode("utf-8", errors="replace"))
        except Exception:
            log.warning("lost the log stream of container %s", self._container.id, exc_info=True)
        if pending:
            self._shipper.write(pending.decode("utf-8", errors="replace"))

    def _wait_exit(self) -> None:
        try:
            result = self._container.wait()
            exit_code: int | None = int(result.get("StatusCode", -1))
            reason = (result.get("Error") or {}).get("Message") or None
            self._container.reload()
            if self._container.attrs.get("State", {}).get("OOMKilled"):
                reason = OUT_OF_MEMORY
        except Exception as exc:
            exit_code, reason = None, f"{CANNOT_START}: {exc}"
        self._logs.join(10)
        self._shipper.close()
        with contextlib.suppress(Exception):
            self._container.remove(force=True)
        self._outcome = Outcome(exit_code=exit_code, reason=reason)
        self._done.set()

    def wait(self, timeout: float | None = None) -> Outcome | None:
        if not self._done.wait(timeout):
            return None
        return self._outcome

    def kill(self) -> None:
        if self._done.is_set():
            return
        with contextlib.suppress(Exception):
            self._container.stop(timeout=int(max(1, self._kill_grace)))
        self._done.wait(self._kill_grace + 30)


class DockerExecutor(TrackingExecutor):
    """Executor that runs each attempt in a Docker container from the job's image."""

    def __init__(
        self,
        logs_client: Any | None = None,
        *,
        client: Any | None = None,
        kill_grace: float = 5.0,
        network: str | None = None,
        logs_client_factory: Callable[[], Any] = default_logs_client,
        client_factory: Callable[[], Any] = docker_from_env,
    ) -> None:
        super().__init__(logs_client, logs_client_factory, kill_grace)
        self._client = client
        self._client_factory = client_factory
        self._network = network

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def run_kwargs(self, spec: ContainerSpec) -> dict[str, Any]:
        """Arguments for ``client.containers.run`` (public so it can be checked without Docker)."""
        kwargs: dict[str, Any] = {
            "image": spec.image,
            "command": list(spec.command) or None,
            "environment": dict(spec.environment),
            "detach": True,
            "nano_cpus": int(spec.vcpus * 1_000_000_000),
            "labels": {
                LABEL: "1",
                f"{LABEL}.job-id": spec.batch_job_id,
                f"{LABEL}.attempt": str(spec.attempt),
            },
            "name": container_name(spec),
        }
        if spec.memory_mib:
            kwargs["mem_limit"] = f"{spec.memory_mib}m"
        if self._network:
            kwargs["network"] = self._network
        return kwargs

    def start(self, spec: ContainerSpec) -> DockerContainer:
        errors = docker_sdk().errors
        if not spec.image:
            raise ExecutorError(f"{CANNOT_START}: the job definition has no image")
        kwargs = self.run_kwargs(spec)
        try:
            try:
                self.client.images.get(spec.image)
            except errors.ImageNotFound:
                self.client.images.pull(spec.image)
            container = self.client.containers.run(**kwargs)
        except errors.ImageNotFound as exc:
            raise ExecutorError(f"CannotPullContainerError: {exc}") from exc
        except errors.APIError as exc:
            raise ExecutorError(f"{CANNOT_START}: {exc}") from exc
        shipper = LogShipper(self.logs_client, spec.log_group, spec.log_stream)
        running = DockerContainer(container, shipper, self._kill_grace)
        self._track(running)
        log.info(
            "job %s attempt %d: started container %s", spec.batch_job_id, spec.attempt, container.id
        )
        return running
