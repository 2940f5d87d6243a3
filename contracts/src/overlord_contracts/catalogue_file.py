"""The shape of a catalogue file (pydantic), for loading the whole catalogue.

Apart from `overlord_contracts.catalogue` so that the worker, which reads one task's file, does
not import pydantic nor build these models (a third of its start-up CPU; issue 13).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from overlord_contracts.parameters import TASK_NAME_PATTERN, check_parameters_schema


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class PythonRuns(_File):
    python: Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")]


class ImageRuns(_File):
    image: Annotated[str, Field(min_length=1)]
    command: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]


def _runs_kind(value: Any) -> str | None:
    """Which kind of `runs` a file means (so that errors are about that kind only)."""
    if isinstance(value, dict) and "python" in value and "image" in value:
        return None  # neither: pydantic reports that no kind matched
    if isinstance(value, dict) and "python" in value:
        return "Python"
    if isinstance(value, dict | ImageRuns) and ("image" in value or isinstance(value, ImageRuns)):
        return "Image"
    return "Python" if isinstance(value, PythonRuns) else None


class TaskFile(_File):
    """The shape of one catalogue file."""

    name: Annotated[str, Field(pattern=TASK_NAME_PATTERN)]
    description: Annotated[str, Field(min_length=1, max_length=1024)]
    parameters: dict[str, Any]
    runs: Annotated[
        Annotated[PythonRuns, Tag("Python")] | Annotated[ImageRuns, Tag("Image")],
        Discriminator(
            _runs_kind,
            custom_error_type="runs_kind",
            custom_error_message='needs either "python", or "image" and "command"',
        ),
    ]
    # Fargate's smallest size is 0.25 vCPU with 512 MiB; EC2 rounds vCPUs up (Terraform).
    vcpus: Annotated[float, Field(gt=0, le=192)]
    memory: Annotated[int, Field(ge=512)]  # MiB
    timeout_seconds: Annotated[int, Field(ge=60)]  # AWS Batch's minimum
    attempts: Annotated[int, Field(ge=1, le=10)]  # AWS Batch's range
    no_retry_exit_codes: list[Annotated[int, Field(ge=0, le=255)]]

    @field_validator("parameters")
    @classmethod
    def _a_2020_12_object_schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        check_parameters_schema(schema)
        return schema
