"""The task catalogue: loading (a bad file names itself and the field) and parameter checks."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from overlord.adapters.config import TASKS_DIR, Settings
from overlord_contracts.catalogue import (
    CatalogueError,
    InvalidParameters,
    UnknownTask,
    load,
    running_task,
)
from overlord_local import provision

GOOD: dict[str, Any] = {
    "name": "resize",
    "description": "Resize an image",
    "parameters": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "width": {"type": "integer", "minimum": 1, "maximum": 10000},
            "mode": {"enum": ["fit", "fill"], "default": "fit"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["width"],
        "additionalProperties": False,
    },
    "runs": {"python": "overlord_worker.tasks:echo"},
    "vcpus": 0.5,
    "memory": 1024,
    "timeout_seconds": 600,
    "attempts": 2,
    "no_retry_exit_codes": [2],
}


def write(directory: Path, task: dict[str, Any], name: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name or task.get('name', 'x')}.json"
    path.write_text(json.dumps(task))
    return path


def changed(path: str, value: Any) -> dict[str, Any]:
    """GOOD with the dotted `path` set to `value` (or removed when value is ...)."""
    task = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    target = task
    for part in parents:
        target = target[part]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return task


def test_the_repository_catalogue_loads():
    tasks = load(TASKS_DIR)
    assert {"echo", "sleep", "fail", "checksum", "wordcount"} <= set(tasks)
    assert tasks["echo"].runs == "python" and tasks["wordcount"].runs == "image"
    assert tasks["wordcount"].command == ("/wordcount",)
    assert Settings.from_env({}).tasks_dir == TASKS_DIR


def test_a_good_file_loads(tmp_path):
    write(tmp_path, GOOD)
    task = load(tmp_path)["resize"]
    assert (task.vcpus, task.memory, task.timeout_seconds, task.attempts) == (0.5, 1024, 600, 2)
    assert task.job_definition_name == "overlord-resize"


@pytest.mark.parametrize(
    ("task", "field"),
    [
        (changed("name", "Resize!"), "name"),
        (changed("description", ...), "description"),
        (changed("vcpus", 0), "vcpus"),
        (changed("vcpus", "1"), "vcpus"),
        (changed("memory", 256), "memory"),
        (changed("timeout_seconds", 30), "timeout_seconds"),
        (changed("attempts", 11), "attempts"),
        (changed("no_retry_exit_codes", [256]), "no_retry_exit_codes.0"),
        (changed("no_retry_exit_codes", [1]), "no_retry_exit_codes"),  # a Python task needs 2
        (changed("runs", {"python": "not a reference"}), "runs.python"),
        (changed("runs", {"image": "x:1"}), "runs.command"),  # an image needs a command
        (changed("runs", {"python": "m:f", "image": "x:1"}), "runs"),
        (changed("colour", "red"), "colour"),
        (changed("parameters.type", "array"), "parameters"),
        (changed("parameters.properties.width.type", "whole"), "parameters"),
        (changed("parameters.$schema", "http://json-schema.org/draft-07/schema#"), "parameters"),
    ],
)
def test_a_bad_file_fails_naming_the_file_and_the_field(tmp_path, task, field):
    path = write(tmp_path, task, "resize")
    with pytest.raises(CatalogueError) as caught:
        load(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {field}:"), message


def test_a_name_that_is_not_the_file_name_is_refused(tmp_path):
    path = write(tmp_path, GOOD, "other")
    with pytest.raises(CatalogueError, match=f"^{path}: name: 'resize' must equal"):
        load(tmp_path)


def test_not_json_and_an_empty_folder_are_refused(tmp_path):
    (tmp_path / "broken.json").write_text("{nope")
    with pytest.raises(CatalogueError, match=r"broken\.json: not readable JSON"):
        load(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CatalogueError, match="empty: no task files"):
        load(tmp_path / "empty")
    with pytest.raises(CatalogueError, match="missing: the task catalogue directory does not"):
        load(tmp_path / "missing")


def test_the_local_stack_loads_with_the_same_checks(tmp_path):
    path = write(tmp_path, changed("runs", ...), "resize")
    with pytest.raises(CatalogueError, match=f"^{path}: runs: "):
        provision.load_definitions("worker:local", tmp_path)


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"width": "10"}, "parameters.width: '10' is not of type 'integer'"),
        ({"width": 1.5}, "parameters.width: 1.5 is not of type 'integer'"),
        ({}, "parameters.width: is required"),
        ({"width": 0}, "parameters.width: 0 is less than the minimum of 1"),
        ({"width": 10001}, "parameters.width: 10001 is greater than the maximum of 10000"),
        ({"width": 5, "mode": "crop"}, "parameters.mode: 'crop' is not one of ['fit', 'fill']"),
        ({"width": 5, "colour": "red"}, "parameters.colour: is not a parameter of this task"),
        ({"width": 5, "tags": ["a", 3]}, "parameters.tags[1]: 3 is not of type 'string'"),
    ],
)
def test_parameter_problems_start_with_their_path(tmp_path, parameters, message):
    write(tmp_path, GOOD)
    with pytest.raises(InvalidParameters) as caught:
        load(tmp_path)["resize"].check_parameters(parameters)
    assert str(caught.value) == message


def test_every_problem_is_reported(tmp_path):
    write(tmp_path, GOOD)
    with pytest.raises(InvalidParameters) as caught:
        load(tmp_path)["resize"].check_parameters({"mode": "crop", "x": 1})
    assert str(caught.value).split("; ") == [
        "parameters.width: is required",
        "parameters.x: is not a parameter of this task",
        "parameters.mode: 'crop' is not one of ['fit', 'fill']",
    ]


def test_defaults_are_filled_in(tmp_path):
    write(tmp_path, GOOD)
    assert load(tmp_path)["resize"].with_defaults({"width": 3}) == {"width": 3, "mode": "fit"}


def test_an_unknown_task_lists_the_known_ones():
    with pytest.raises(UnknownTask) as caught:
        load(TASKS_DIR).task("nope")
    assert str(caught.value).startswith("task: unknown task 'nope'; known tasks: checksum, echo")


# The worker reads only the file of the task it runs (issue 13: start-up cost).


@pytest.mark.parametrize("name", sorted(p.stem for p in TASKS_DIR.glob("*.json")))
def test_the_worker_reads_a_task_as_the_whole_catalogue_has_it(name):
    assert running_task(name, TASKS_DIR) == load(TASKS_DIR)[name]


def test_the_worker_needs_only_its_own_file_to_be_good(tmp_path):
    write(tmp_path, GOOD)
    write(tmp_path, changed("runs", ...), "broken")
    assert running_task("resize", tmp_path).python == "overlord_worker.tasks:echo"
    with pytest.raises(CatalogueError):
        load(tmp_path)


@pytest.mark.parametrize("name", ["nope", "../tasks/echo", "echo\n", ""])
def test_the_worker_refuses_an_unknown_task_as_the_catalogue_does(name):
    with pytest.raises(UnknownTask) as caught:
        running_task(name, TASKS_DIR)
    with pytest.raises(UnknownTask) as expected:
        load(TASKS_DIR).task(name)
    assert str(caught.value) == str(expected.value)


@pytest.mark.parametrize(
    ("task", "field"),
    [
        (changed("runs", ...), "runs"),
        (changed("runs", {"python": "a:b", "image": "x", "command": ["y"]}), "runs"),
        (changed("runs", {"python": 3}), "runs"),
        (changed("parameters", ...), "parameters"),
        (changed("parameters.type", "array"), "parameters"),
        (changed("parameters.properties.width.type", "whole"), "parameters"),
        (changed("parameters.$schema", "http://json-schema.org/draft-07/schema#"), "parameters"),
        (changed("name", "other"), "name"),
    ],
)
def test_the_worker_names_the_file_and_the_field_of_a_bad_file(tmp_path, task, field):
    path = write(tmp_path, task, "resize")
    with pytest.raises(CatalogueError) as caught:
        running_task("resize", tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {field}:"), message


def test_the_worker_refuses_a_missing_or_empty_catalogue(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CatalogueError, match="empty: no task files"):
        running_task("echo", tmp_path / "empty")
    with pytest.raises(CatalogueError, match="missing: the task catalogue directory does not"):
        running_task("echo", tmp_path / "missing")
    (tmp_path / "echo.json").write_text("{nope")
    with pytest.raises(CatalogueError, match=r"echo\.json: not readable JSON"):
        running_task("echo", tmp_path)
