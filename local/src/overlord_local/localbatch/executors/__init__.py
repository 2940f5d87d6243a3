"""Executors: how an attempt's container runs (a local process or a Docker container)."""

from overlord_local.localbatch.executors.base import (
    ContainerSpec,
    Executor,
    ExecutorError,
    Outcome,
    RunningContainer,
)
from overlord_local.localbatch.executors.docker_executor import DockerExecutor
from overlord_local.localbatch.executors.process import ProcessExecutor

__all__ = [
    "ContainerSpec",
    "DockerExecutor",
    "Executor",
    "ExecutorError",
    "Outcome",
    "ProcessExecutor",
    "RunningContainer",
]
