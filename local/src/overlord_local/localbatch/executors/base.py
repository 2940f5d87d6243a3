"""The executor port: how the scheduler runs one attempt's container.

The scheduler only sees ``Executor.start(spec) -> RunningContainer`` and the
``Outcome``; whether a subprocess or a Docker container runs is not its business.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

# Where AWS Batch's awslogs driver writes when a job definition names no group.
BATCH_LOG_GROUP = "/aws/batch/job"
CANNOT_START = "CannotStartContainerError"
CANNOT_PULL = "CannotPullContainerError"
OUT_OF_MEMORY = "OutOfMemoryError: Container killed due to memory usage"


@dataclass(frozen=True)
class ContainerSpec:
    """Everything needed to start one attempt of one job."""

    batch_job_id: str
    attempt: int
    image: str
    command: list[str]
    environment: dict[str, str] = field(default_factory=dict)
    vcpus: float = 1.0
    memory_mib: int | None = None
    log_group: str = BATCH_LOG_GROUP
    log_stream: str = ""


@dataclass(frozen=True)
class Outcome:
    """How an attempt's container ended: its exit code and AWS's container ``reason``."""

    exit_code: int | None
    reason: str | None = None


class ExecutorError(Exception):
    """The container could not be started; ``reason`` is what AWS would report."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RunningContainer(Protocol):
    def wait(self, timeout: float | None = None) -> Outcome | None:
        """The outcome once the container exits; ``None`` if still running after ``timeout``."""
        ...

    def kill(self) -> None:
        """Stop the container (SIGTERM, then SIGKILL after a grace period). Idempotent."""
        ...


class Executor(Protocol):
    def start(self, spec: ContainerSpec) -> RunningContainer:
        """Start the container; raise ``ExecutorError`` if it cannot start."""
        ...

    def shutdown(self) -> None:
        """Kill every container this executor still runs (server shutdown)."""
        ...


def signal_exit_code(returncode: int) -> int:
    """Popen's ``-N`` for "killed by signal N" as a container runtime reports it: 128 + N."""
    return 128 - returncode if returncode < 0 else returncode
