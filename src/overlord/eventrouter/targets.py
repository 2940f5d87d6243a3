"""Where matched events go: an in-process handler, or a Lambda invoke URL.

A target's ``deliver(event)`` returns on success and raises ``DeliveryError``
(or any exception) on failure; the router retries and dead-letters.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

Handler = Callable[[dict[str, Any], Any], Any]


class DeliveryError(Exception):
    """The target did not accept the event."""


class Target(Protocol):
    name: str

    def deliver(self, event: dict[str, Any]) -> None: ...


@dataclass
class LambdaContext:
    """The parts of the Lambda context object our handlers (and Powertools) read."""

    function_name: str = "local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    timeout_seconds: float = 60.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self._started
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


class CallableTarget:
    """Calls ``handler(event, context)`` in this process, like Lambda would."""

    def __init__(self, handler: Handler, name: str | None = None) -> None:
        self.handler = handler
        self.name: str = name or str(getattr(handler, "__qualname__", repr(handler)))

    def deliver(self, event: dict[str, Any]) -> None:
        self.handler(event, LambdaContext(function_name=self.name))


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
        request = urllib.request.Request(  # noqa: S310 - http(s) URL given by the operator
            self.url,
            data=json.dumps(event).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                body = response.read()
                function_error = response.headers.get("X-Amz-Function-Error")
        except urllib.error.HTTPError as exc:
            raise DeliveryError(f"{self.url} answered HTTP {exc.code}") from exc
        except OSError as exc:
            raise DeliveryError(f"{self.url} unreachable: {exc}") from exc
        payload = _json_or_none(body)
        if function_error or (isinstance(payload, dict) and "errorMessage" in payload):
            message = payload.get("errorMessage") if isinstance(payload, dict) else body[:200]
            raise DeliveryError(f"function error ({function_error or 'Unhandled'}): {message}")


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def as_target(target: Target | Handler | str) -> Target:
    """A URL becomes a ``LambdaInvokeTarget``, a plain callable a ``CallableTarget``."""
    if isinstance(target, str):
        return LambdaInvokeTarget(target)
    if isinstance(target, CallableTarget | LambdaInvokeTarget) or hasattr(target, "deliver"):
        return cast(Target, target)
    return CallableTarget(cast(Handler, target))
