"""Tasks are found through the `overlord.tasks` entry-point group.

A package adds tasks by declaring, in its own pyproject.toml::

    [project.entry-points."overlord.tasks"]
    resize = "mypackage.tasks:resize"

A task is a callable ``task(parameters: dict, context: TaskContext) -> JSON value``.
It raises `BadParameters` for input it cannot use (exit 2, not retried) and any
other exception for a failure (exit 1); `TaskExit` ends it with a chosen code
(0 is a success, 1..255 a failure with that code, anything else exit 1; the table
is in `overlord_worker.service`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

ENTRY_POINT_GROUP = "overlord.tasks"


@dataclass(frozen=True)
class TaskContext:
    job_id: str
    batch_job_id: str
    attempt: int
    log: Any  # a logging.Logger-like object writing JSON lines


Task = Callable[[dict[str, Any], TaskContext], Any]


class UnknownTask(LookupError):
    pass


class BadParameters(ValueError):
    """The parameters do not suit the task; retrying cannot help."""


class TaskExit(Exception):
    """End the task with a specific exit code and message (0: success, output None)."""

    def __init__(self, exit_code: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def available_tasks() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_task(name: str) -> Task:
    found = available_tasks().get(name)
    if found is None:
        known = ", ".join(sorted(available_tasks())) or "none"
        raise UnknownTask(f"unknown task {name!r}; installed tasks: {known}")
    task: Task = found.load()
    return task
