"""What a task file's name and parameter schema must be: shared by the whole-file model
(`catalogue_file`, pydantic) and the worker's one-file reader (`catalogue.running_task`),
which must not import pydantic (issue 13)."""

from __future__ import annotations

from typing import Any

TASK_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"  # also the request's `task` pattern
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def check_parameters_schema(schema: dict[str, Any]) -> None:
    """ValueError unless `schema` is a JSON Schema 2020-12 of an object."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    if schema.get("$schema", SCHEMA_DIALECT) != SCHEMA_DIALECT:
        raise ValueError(f"$schema must be {SCHEMA_DIALECT} (or absent)")
    if schema.get("type") != "object":
        raise ValueError('must be a schema of "type": "object"')
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        raise ValueError(
            f"not a valid JSON Schema{' at ' + where if where else ''}: {exc.message}"
        ) from None
