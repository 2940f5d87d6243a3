"""A log line for people: the worker's JSON lines (Powertools) read as level + message.

Shared by the CLI (`overlord logs`) and the console (`overlord ui`); the full line stays
available as JSON to both (`--output json`, the console's details).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Shown:
    level: str | None  # INFO, WARNING, … for a structured line; None for plain text
    message: str
    exception: str | None = None  # a structured line's traceback, if it carries one


def shown(line: dict[str, Any]) -> Shown:
    """The message of a line: a JSON object's `message` (with its `level`), else the text."""
    text = str(line.get("message", ""))
    if line.get("kind") != "log" or not text.startswith("{"):
        return Shown(None, text)
    try:
        fields = json.loads(text)
    except ValueError:
        return Shown(None, text)
    if not isinstance(fields, dict) or "message" not in fields:
        return Shown(None, text)
    message = fields["message"]
    if not isinstance(message, str):
        message = json.dumps(message)
    level = fields.get("level")
    exception = fields.get("exception")
    return Shown(
        str(level) if level is not None else None,
        message,
        str(exception) if exception else None,
    )
