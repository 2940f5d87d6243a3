"""EventBridge event patterns: load the project's rule and match events against it.

Supported (what EventBridge documents under "Event patterns" / "Content filtering"):
exact values (strings, numbers, booleans, null), a list as OR, nested objects,
array-valued event fields (match when any element matches), and the operators
``prefix``, ``suffix``, ``equals-ignore-case``, ``anything-but`` (value, list or
``{"prefix": …}``), ``exists``, ``wildcard`` and ``numeric``.
"""

from __future__ import annotations

import fnmatch
import operator
from typing import Any

# The pattern itself is a contract (terraform's events module renders the same file).
from overlord_contracts.events import load_batch_pattern as load_batch_pattern
from overlord_contracts.files import EVENT_PATTERN_FILE

BATCH_PATTERN_PATH = EVENT_PATTERN_FILE
_MISSING = object()
_NUMERIC_OPS = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def matches(pattern: dict[str, Any], event: Any) -> bool:
    """Whether ``event`` matches the EventBridge ``pattern``."""
    if not isinstance(event, dict):
        return False
    for key, expected in pattern.items():
        value = event.get(key, _MISSING)
        if isinstance(expected, dict):
            if not isinstance(value, dict) or not matches(expected, value):
                return False
        elif isinstance(expected, list):
            if not _field_matches(expected, value):
                return False
        else:
            raise ValueError(f"pattern values must be lists or objects, got {expected!r} at {key}")
    return True


def _field_matches(candidates: list[Any], value: Any) -> bool:
    if value is _MISSING:
        return any(isinstance(c, dict) and c.get("exists") is False for c in candidates)
    values = value if isinstance(value, list) else [value]
    return any(_one_matches(c, v) for c in candidates for v in values)


def _one_matches(candidate: Any, value: Any) -> bool:
    if not isinstance(candidate, dict):
        return _equal(candidate, value)
    ((op, arg),) = candidate.items()
    if op == "exists":
        return bool(arg)
    if op == "prefix":
        return isinstance(value, str) and _affix(arg, value, str.startswith)
    if op == "suffix":
        return isinstance(value, str) and _affix(arg, value, str.endswith)
    if op == "equals-ignore-case":
        return isinstance(value, str) and value.casefold() == str(arg).casefold()
    if op == "wildcard":
        return isinstance(value, str) and fnmatch.fnmatchcase(value, str(arg))
    if op == "anything-but":
        if isinstance(arg, dict):
            return not _one_matches(arg, value)
        excluded = arg if isinstance(arg, list) else [arg]
        return not any(_equal(e, value) for e in excluded)
    if op == "numeric":
        return _numeric(arg, value)
    raise ValueError(f"unsupported pattern operator {op!r}")


def _affix(arg: Any, value: str, test: Any) -> bool:
    if isinstance(arg, dict) and "equals-ignore-case" in arg:
        return bool(test(value.casefold(), str(arg["equals-ignore-case"]).casefold()))
    return bool(test(value, str(arg)))


def _equal(expected: Any, value: Any) -> bool:
    numbers = (int, float)
    if isinstance(expected, numbers) and not isinstance(expected, bool):
        return isinstance(value, numbers) and not isinstance(value, bool) and value == expected
    return type(expected) is type(value) and expected == value


def _numeric(conditions: list[Any], value: Any) -> bool:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    pairs = zip(conditions[::2], conditions[1::2], strict=True)
    return all(_NUMERIC_OPS[op](value, bound) for op, bound in pairs)
