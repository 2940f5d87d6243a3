"""A task the tests add to a copy of the catalogue (tests/conftest.py ANY_PARAMETERS_TASK)."""

from __future__ import annotations

from typing import Any


def anything(parameters: dict[str, Any], context: Any) -> dict[str, Any]:
    return parameters
