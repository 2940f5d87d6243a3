"""The submit form, generated from a task's parameters schema (GET /tasks), and read back.

Each top-level property becomes one field: a number or integer input, a checkbox, a
select for an `enum`, a text input for a string; anything else (objects, arrays) a JSON
text area. The form's values are turned back into the types the schema names; the API
checks them (the console does not re-implement JSON Schema) and its field errors are
shown next to the fields they name (`parameters.<name>`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # number | integer | boolean | enum | string | json
    required: bool
    description: str
    default: Any
    choices: tuple[Any, ...] = ()
    minimum: Any = None
    maximum: Any = None

    @property
    def input_name(self) -> str:
        return f"p.{self.name}"

    @property
    def error_key(self) -> str:
        return f"parameters.{self.name}"


def fields_of(schema: dict[str, Any]) -> list[Field]:
    required = set(schema.get("required") or ())
    found = []
    for name, spec in (schema.get("properties") or {}).items():
        spec = spec if isinstance(spec, dict) else {}
        kind = _kind(spec)
        found.append(
            Field(
                name=name,
                kind=kind,
                required=name in required,
                description=str(spec.get("description") or ""),
                default=spec.get("default"),
                choices=tuple(spec.get("enum") or ()),
                minimum=spec.get("minimum"),
                maximum=spec.get("maximum"),
            )
        )
    return found


def _kind(spec: dict[str, Any]) -> str:
    if "enum" in spec:
        return "enum"
    kind = spec.get("type")
    if kind in ("number", "integer", "boolean", "string"):
        return str(kind)
    return "json"


class FormError(ValueError):
    """A value the form cannot turn into the schema's type: (field key, message)."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{k}: {m}" for k, m in errors))
        self.errors = errors


def parameters_from(fields: list[Field], form: dict[str, str]) -> dict[str, Any]:
    """The parameters object from the submitted form; empty optional fields left out."""
    parameters: dict[str, Any] = {}
    errors: list[tuple[str, str]] = []
    for f in fields:
        raw = form.get(f.input_name, "")
        if f.kind == "boolean":
            if f.input_name in form:
                parameters[f.name] = raw in ("on", "true", "1")
            continue
        if raw.strip() == "" and f.kind != "string":
            continue
        if raw == "" and not f.required:
            continue
        try:
            parameters[f.name] = _value(f, raw)
        except ValueError as exc:
            errors.append((f.error_key, str(exc)))
    if errors:
        raise FormError(errors)
    return parameters


def _value(f: Field, raw: str) -> Any:
    if f.kind == "integer":
        try:
            return int(raw.strip())
        except ValueError:
            raise ValueError(f"{raw!r} is not an integer") from None
    if f.kind == "number":
        try:
            number = float(raw.strip())
        except ValueError:
            raise ValueError(f"{raw!r} is not a number") from None
        return int(number) if number.is_integer() and "." not in raw else number
    if f.kind == "enum":
        for choice in f.choices:
            if str(choice) == raw:
                return choice
        raise ValueError(f"{raw!r} is not one of the choices")
    if f.kind == "json":
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ValueError(f"not JSON: {exc}") from None
    return raw


def tags_from(text: str) -> dict[str, str]:
    """`key=value` lines (or comma-separated) as tags."""
    tags: dict[str, str] = {}
    for part in text.replace(",", "\n").splitlines():
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise FormError([("tags", f"{part!r}: expected key=value")])
        tags[key.strip()] = value.strip()
    return tags
