"""The task catalogue: one JSON file per task under ``contracts/tasks/`` (DESIGN "Tasks").

Each file declares a task's name, description, parameters (JSON Schema, draft 2020-12),
how it runs (a Python function in the worker image, or any container image + command),
its resources, timeout, attempts and the exit codes never retried. The API validates
requests against it, the worker checks parameters again, and `job_definition` makes the
task's Batch job definition: the one generator in the product. The local stack
(`overlord_local.provision`) and Terraform (`terraform/modules/batch/tasks.tf`) read the
same files and make equal definitions (tests/infra/test_catalogue_definitions.py).

A bad file fails loading with its path and the field at fault.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from overlord_contracts.errors import InvalidRequest
from overlord_contracts.files import TASKS_DIR
from overlord_contracts.parameters import TASK_NAME_PATTERN, check_parameters_schema

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError as ValidationError_

WORKER_COMMAND = ("python", "-m", "overlord_worker")
# A task's job definition has the contract name CONTRACT_NAME_PREFIX + the task's name
# (`job_definition_name`); a deployment registers it under its own job_definition_prefix
# (JOB_DEFINITION_PREFIX, e.g. "overlord-dev-") + that contract name.
CONTRACT_NAME_PREFIX = "overlord-"
EXIT_BAD_INPUT = 2  # the worker's "bad parameters" exit code


# A 400 for 10,000 bad items names the first few and counts the rest.
MAX_ITEMS_REPORTED = 20


class CatalogueError(Exception):
    """A catalogue file is unusable; the message names the file and the field."""


class UnknownTask(InvalidRequest):
    pass


class InvalidParameters(InvalidRequest):
    pass


Runs = Literal["python", "image"]


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    parameters: Mapping[str, Any]
    python: str | None  # "module:function" in the worker image
    image: str | None
    command: tuple[str, ...]
    vcpus: float
    memory: int
    timeout_seconds: int
    attempts: int
    no_retry_exit_codes: tuple[int, ...]
    source: Path

    @property
    def runs(self) -> Runs:
        return "image" if self.image else "python"

    @property
    def job_definition_name(self) -> str:
        """The contract name of the task's job definition (deployed: a prefix + this)."""
        return job_definition_name(self.name)

    @functools.cached_property
    def _validator(self) -> Draft202012Validator:
        # Imported on first use: jsonschema is a sixth of a worker process's start-up.
        from jsonschema import Draft202012Validator

        return Draft202012Validator(self.parameters)

    def check_parameters(self, parameters: Any, where: str = "parameters") -> None:
        """Raise InvalidParameters naming each failing path (``parameters.seconds: …``;
        `where` names the input, e.g. ``items[3]``)."""
        problems = self.parameter_problems(parameters, where)
        if problems:
            raise InvalidParameters("; ".join(problems))

    def check_items(self, items: Sequence[Any]) -> None:
        """Each item as parameters; the message names the first failing items
        (``items[3].seconds: …``) and how many more failed."""
        problems: list[str] = []
        failed = 0
        for index, item in enumerate(items):
            if self._validator.is_valid(item):  # the fast path: no error objects built
                continue
            failed += 1
            if failed <= MAX_ITEMS_REPORTED:
                problems += self.parameter_problems(item, f"items[{index}]")
        if failed > MAX_ITEMS_REPORTED:
            problems.append(
                f"items: {failed - MAX_ITEMS_REPORTED} more items fail the task's schema"
            )
        if problems:
            raise InvalidParameters("; ".join(problems))

    def parameter_problems(self, parameters: Any, where: str = "parameters") -> list[str]:
        problems: dict[str, None] = {}  # ordered, without repeats
        for error in sorted(self._validator.iter_errors(parameters), key=_error_order):
            for problem in _problems(error, where):
                problems[problem] = None
        return list(problems)

    def with_defaults(self, parameters: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters with the schema's top-level ``default`` values filled in."""
        filled = dict(parameters)
        for key, spec in (self.parameters.get("properties") or {}).items():
            if key not in filled and isinstance(spec, dict) and "default" in spec:
                filled[key] = spec["default"]
        return filled

    def describe(self) -> dict[str, Any]:
        """What ``GET /tasks`` shows."""
        runs: dict[str, Any] = (
            {"image": self.image, "command": list(self.command)}
            if self.image
            else {"python": self.python}
        )
        return {
            "name": self.name,
            "description": self.description,
            "parameters": dict(self.parameters),
            "runs": runs,
            "vcpus": self.vcpus,
            "memory": self.memory,
            "timeout_seconds": self.timeout_seconds,
            "attempts": self.attempts,
            "no_retry_exit_codes": list(self.no_retry_exit_codes),
        }


def _error_order(error: ValidationError_) -> list[str]:
    return [str(p) for p in error.absolute_path]


def _path(path: Iterable[Any], where: str) -> str:
    return where + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def _problems(error: ValidationError_, where: str) -> list[str]:
    """Messages that start with the path at fault, also for a missing or an unexpected
    property (which jsonschema reports on the object holding it)."""
    path = list(error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        missing = [p for p in error.validator_value if p not in instance]
        return [f"{_path([*path, p], where)}: is required" for p in missing]
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        known = error.schema.get("properties") or {}
        patterns = error.schema.get("patternProperties") or {}
        extra = [
            k for k in instance if k not in known and not any(re.search(p, k) for p in patterns)
        ]
        if extra:
            return [f"{_path([*path, k], where)}: is not a parameter of this task" for k in extra]
    return [f"{_path(path, where)}: {error.message}"]


def _field(loc: tuple[int | str, ...]) -> str:
    # pydantic names the union member it tried ("runs.PythonRuns.python"): keep the fields.
    return ".".join(str(p) for p in loc if not (isinstance(p, str) and p[:1].isupper())) or "file"


def load_task(path: Path) -> Task:
    """One catalogue file, validated; CatalogueError names the file and the field."""
    from pydantic import ValidationError

    from overlord_contracts.catalogue_file import ImageRuns, PythonRuns, TaskFile

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogueError(f"{path}: not readable JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CatalogueError(f"{path}: must be a JSON object")
    try:
        spec = TaskFile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{_field(e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors(include_url=False)
        )
        raise CatalogueError(f"{path}: {problems}") from None
    if spec.name != path.stem:
        raise CatalogueError(f"{path}: name: {spec.name!r} must equal the file name {path.stem!r}")
    runs = spec.runs
    if isinstance(runs, PythonRuns) and EXIT_BAD_INPUT not in spec.no_retry_exit_codes:
        raise CatalogueError(
            f"{path}: no_retry_exit_codes: a Python task must list {EXIT_BAD_INPUT} "
            "(the worker's exit code for bad parameters)"
        )
    return Task(
        name=spec.name,
        description=spec.description,
        parameters=spec.parameters,
        python=runs.python if isinstance(runs, PythonRuns) else None,
        image=runs.image if isinstance(runs, ImageRuns) else None,
        command=tuple(runs.command) if isinstance(runs, ImageRuns) else WORKER_COMMAND,
        vcpus=spec.vcpus,
        memory=spec.memory,
        timeout_seconds=spec.timeout_seconds,
        attempts=spec.attempts,
        no_retry_exit_codes=tuple(dict.fromkeys(spec.no_retry_exit_codes)),  # file order
        source=path,
    )


class Catalogue(Mapping[str, Task]):
    """Every task of one catalogue directory, by name."""

    def __init__(self, tasks: Mapping[str, Task]) -> None:
        self._tasks = dict(sorted(tasks.items()))

    def __getitem__(self, name: str) -> Task:
        return self._tasks[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tasks)

    def __len__(self) -> int:
        return len(self._tasks)

    def task(self, name: str) -> Task:
        """The task, or UnknownTask (400) naming `task` and listing the known ones."""
        found = self._tasks.get(name)
        if found is None:
            raise UnknownTask(
                f"task: unknown task {name!r}; known tasks: {', '.join(self._tasks) or 'none'}"
            )
        return found


def load(directory: Path) -> Catalogue:
    """Every ``*.json`` of `directory` (Terraform's ``fileset(dir, "*.json")``)."""
    if not directory.is_dir():
        raise CatalogueError(f"{directory}: the task catalogue directory does not exist")
    tasks = {t.name: t for t in map(load_task, sorted(directory.glob("*.json")))}
    if not tasks:
        raise CatalogueError(f"{directory}: no task files (*.json)")
    return Catalogue(tasks)


@functools.cache
def _cached(directory: Path) -> Catalogue:
    return load(directory)


def catalogue(directory: Path | None = None) -> Catalogue:
    """The catalogue of `directory` (default: Settings' tasks_dir), loaded once per process."""
    return _cached(_tasks_dir(directory).resolve())


def _tasks_dir(directory: Path | None) -> Path:
    if directory is None:
        # Settings' tasks_dir, read here so that the contracts import nothing above them.
        directory = Path(os.environ.get("OVERLORD_TASKS_DIR") or TASKS_DIR)
    return directory


def running_task(name: str, directory: Path | None = None) -> Task:
    """Task `name` as the worker needs it: its own file only, its parameter schema checked.

    A worker process runs one task, so it reads one file and builds no file model
    (`load_task` would import pydantic: most of a 1-ms task's start-up; issue 13). It
    checks what it uses, the name, the parameter schema and ``runs``, with `load_task`'s
    messages; the rest of the file is checked wherever the catalogue is loaded whole
    (the API, the local stack, tests/infra). UnknownTask as `Catalogue.task` says it.
    """
    directory = _tasks_dir(directory)
    path = directory / f"{name}.json"
    # The pattern first: the name comes from the job and must not reach outside.
    if re.fullmatch(TASK_NAME_PATTERN, name) and path.is_file():
        return _running_task(path)
    if not directory.is_dir():
        raise CatalogueError(f"{directory}: the task catalogue directory does not exist")
    known = sorted(p.stem for p in directory.glob("*.json"))
    if not known:
        raise CatalogueError(f"{directory}: no task files (*.json)")
    raise UnknownTask(f"task: unknown task {name!r}; known tasks: {', '.join(known)}")


def _running_task(path: Path) -> Task:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogueError(f"{path}: not readable JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CatalogueError(f"{path}: must be a JSON object")
    if data.get("name") != path.stem:
        raise CatalogueError(
            f"{path}: name: {data.get('name')!r} must equal the file name {path.stem!r}"
        )
    parameters = data.get("parameters")
    if not isinstance(parameters, dict):
        raise CatalogueError(f"{path}: parameters: must be a JSON object")
    try:
        check_parameters_schema(parameters)
    except ValueError as exc:
        raise CatalogueError(f"{path}: parameters: {exc}") from None
    runs = data.get("runs")
    runs = runs if isinstance(runs, dict) else {}
    python, image = runs.get("python"), runs.get("image")
    if (python is None) == (image is None) or not isinstance(python or image, str):
        raise CatalogueError(f'{path}: runs: needs either "python", or "image" and "command"')
    return Task(
        name=path.stem,
        description=data.get("description", ""),
        parameters=parameters,
        python=python,
        image=image,
        command=tuple(runs.get("command") or ()) if image else WORKER_COMMAND,
        vcpus=data.get("vcpus", 0),
        memory=data.get("memory", 0),
        timeout_seconds=data.get("timeout_seconds", 0),
        attempts=data.get("attempts", 0),
        no_retry_exit_codes=tuple(dict.fromkeys(data.get("no_retry_exit_codes") or ())),
        source=path,
    )


def job_definition_name(task: str) -> str:
    """The contract name of task `task`'s job definition: ``overlord-<task>``."""
    return CONTRACT_NAME_PREFIX + task


def evaluate_on_exit(task: Task) -> list[dict[str, str]]:
    """The task's retry rules (its job definition's ``retryStrategy.evaluateOnExit``):
    each exit code never retried ends the job.

    A retryStrategy given at submission replaces the definition's whole strategy, so
    the submitter sends these again with the job's own attempts."""
    return [{"onExitCode": str(code), "action": "EXIT"} for code in task.no_retry_exit_codes]


def vcpus_text(vcpus: float) -> str:
    """As Terraform's tostring() prints a JSON number: 0.25 → "0.25", 1 → "1"."""
    return f"{vcpus:g}"


def job_definition(task: Task, *, worker_image: str, image: str | None = None) -> dict[str, Any]:
    """The task's job definition as a RegisterJobDefinition request.

    The deployment adds what depends on it (roles, logging, platform; Terraform) and
    prefixes the name. Python tasks run the worker image's ``python -m overlord_worker``;
    `image` replaces an image task's own (e.g. the copy a deployment pushed to ECR).
    """
    environment = [] if task.image else [{"name": "PYTHONUNBUFFERED", "value": "1"}]
    return {
        "jobDefinitionName": task.job_definition_name,
        "type": "container",
        "containerProperties": {
            "image": (image or task.image) if task.image else worker_image,
            "command": list(task.command),
            "resourceRequirements": [
                {"type": "VCPU", "value": vcpus_text(task.vcpus)},
                {"type": "MEMORY", "value": str(task.memory)},
            ],
            "environment": environment,
        },
        "retryStrategy": {"attempts": task.attempts, "evaluateOnExit": evaluate_on_exit(task)},
        "timeout": {"attemptDurationSeconds": task.timeout_seconds},
        "propagateTags": True,
    }
