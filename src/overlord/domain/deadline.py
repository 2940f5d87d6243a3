"""How long the current invocation may still run: the Lambda's remaining time.

A context variable, so that each thread (each execution environment `make dev` runs in
one process) sees its own invocation's; None outside an invocation (tests, scripts).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar

_deadline: ContextVar[float | None] = ContextVar("overlord_invocation_deadline", default=None)


@contextlib.contextmanager
def invocation(seconds_left: float) -> Iterator[None]:
    """Within this block the invocation has `seconds_left` (from the Lambda context)."""
    token = _deadline.set(time.monotonic() + seconds_left)
    try:
        yield
    finally:
        _deadline.reset(token)


def seconds_left() -> float | None:
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()
