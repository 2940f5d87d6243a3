"""Where matched events go: an in-process handler, or a Lambda invoke URL.

A target's ``deliver(event)`` returns on success and raises ``DeliveryError``
(or any exception) on failure; the router retries and dead-letters.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

from overlord_local.lambdas import Handler, InvokeError, invoke_in_process, invoke_url


class DeliveryError(Exception):
    """The target did not accept the event."""


class Target(Protocol):
    name: str

    def deliver(self, event: dict[str, Any]) -> None: ...


class CallableTarget:
    """Calls ``handler(event, context)`` in this process, like Lambda would."""

    def __init__(self, handler: Handler, name: str | None = None) -> None:
        self.handler = handler
        self.name: str = name or str(getattr(handler, "__qualname__", repr(handler)))

    def deliver(self, event: dict[str, Any]) -> None:
        invoke_in_process(self.handler, event, self.name)


class LambdaInvokeTarget:
    """POSTs the event to a Lambda invoke URL (e.g. the Runtime Interface Emulator's
    ``http://host:8080/2015-03-31/functions/function/invocations``).

    Failure: a connection error, an HTTP status other than 2xx, an
    ``X-Amz-Function-Error`` header, or a JSON body carrying ``errorMessage``
    (how the emulator reports an unhandled exception).
    """

    def __init__(self, url: str, timeout: float = 60.0, name: str | None = None) -> None:
        self.url = url
        self.timeout = timeout
        self.name = name or url

    def deliver(self, event: dict[str, Any]) -> None:
        try:
            invoke_url(self.url, event, self.timeout)
        except InvokeError as exc:
            raise DeliveryError(str(exc)) from exc


def as_target(target: Target | Handler | str) -> Target:
    """A URL becomes a ``LambdaInvokeTarget``, a plain callable a ``CallableTarget``."""
    if isinstance(target, str):
        return LambdaInvokeTarget(target)
    if isinstance(target, CallableTarget | LambdaInvokeTarget) or hasattr(target, "deliver"):
        return cast(Target, target)
    return CallableTarget(cast(Handler, target))
