"""Tasks are declared in the catalogue (``contracts/tasks/<name>.json``,
`overlord_contracts.catalogue`).

A Python task names its function there as ``"runs": {"python": "package.module:function"}``;
the function must be importable in the worker image. It is a callable
``task(parameters: dict, context: TaskContext) -> JSON value`` and receives parameters
already checked against the task's schema, with the schema's top-level defaults filled
in. It raises `BadParameters` for input it cannot use (exit 2, not retried) and any
other exception for a failure (exit 1); `TaskExit` ends it with a chosen code (0 is a
success, 1..255 a failure with that code, anything else exit 1; the table is in
`overlord_worker.service`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from overlord_contracts import catalogue
from overlord_contracts.catalogue import Catalogue


@dataclass(frozen=True)
class TaskContext:
    job_id: str
    batch_job_id: str
    attempt: int
    log: Any  # a logging.Logger-like object writing JSON lines
    index: int | None = None  # an array job's child: the index of its item


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


def load_task(name: str, tasks: Catalogue | None = None) -> Task:
    """The catalogue's Python task `name`, checking its parameters before it runs.

    The API validated them already, but a job can be submitted to Batch directly: a
    violation is `BadParameters` (exit 2) with the API's message (``parameters.x: …``).
    """
    try:
        entry = tasks.task(name) if tasks is not None else catalogue.running_task(name)
    except catalogue.UnknownTask as exc:
        raise UnknownTask(str(exc).removeprefix("task: ")) from None
    if entry.python is None:
        raise UnknownTask(f"task {name!r} runs the image {entry.image}, not the worker")
    function: Task = _load(entry.python)

    def checked(parameters: dict[str, Any], context: TaskContext) -> Any:
        where = "parameters" if context.index is None else f"items[{context.index}]"
        try:
            entry.check_parameters(parameters, where)
        except catalogue.InvalidParameters as exc:
            raise BadParameters(str(exc)) from None
        return function(entry.with_defaults(parameters), context)

    return checked


def _load(reference: str) -> Any:
    """The object a ``module:attribute`` reference names, as an entry point's ``load()``
    finds it (without importing importlib.metadata, a tenth of the worker's start-up)."""
    module, _, attributes = reference.partition(":")
    return functools.reduce(getattr, filter(None, attributes.split(".")), import_module(module))
