"""The errors a contract raises on a client's input, and the product's base error.

The product's domain (overlord.domain.errors) re-exports these, so that an unknown task
or bad parameters are a 400 like any other InvalidRequest.
"""

from __future__ import annotations


class OverlordError(Exception):
    """Base class; ``str(error)`` is safe to show to a client."""


class InvalidRequest(OverlordError):
    """The client's input is wrong: 400, or 413 when ``too_large``."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large
