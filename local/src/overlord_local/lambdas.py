"""Invoking a Lambda handler locally: in this process, or through an invoke URL.

The invoke URL is what the Lambda Runtime Interface Emulator serves (our images'
built-in one, or `aws-lambda-rie` in `make dev --rie`):
``http://host:port/2015-03-31/functions/function/invocations``.
"""

from __future__ import annotations

import importlib
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[[dict[str, Any], Any], Any]
INVOKE_PATH = "/2015-03-31/functions/function/invocations"


class InvokeError(Exception):
    """The function could not be reached, or it raised (a function error)."""


@dataclass
class LocalLambdaContext:
    """The parts of the Lambda context object our handlers (and Powertools) read."""

    function_name: str = "overlord-local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    timeout_seconds: float = 60.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/overlord-local"
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self._started
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


def load_handler(name: str) -> Handler:
    """``package.module.function``, imported as the Lambda runtime imports a handler."""
    module_name, _, attribute = name.rpartition(".")
    handler: Handler = getattr(importlib.import_module(module_name), attribute)
    return handler


def invoke_url_for(host: str, port: int) -> str:
    return f"http://{host}:{port}{INVOKE_PATH}"


def invoke_in_process(handler: Handler, event: dict[str, Any], name: str = "overlord-local") -> Any:
    return handler(event, LocalLambdaContext(function_name=name))


# One emulator is one execution environment: like Lambda, it runs one invocation at a
# time (aws-lambda-rie crashes when a second arrives mid-invocation), so callers of the
# same URL queue.
_one_at_a_time: dict[str, threading.Lock] = {}
_locks_lock = threading.Lock()


def _environment_lock(url: str) -> threading.Lock:
    with _locks_lock:
        return _one_at_a_time.setdefault(url, threading.Lock())


def invoke_url(url: str, event: dict[str, Any], timeout: float = 60.0) -> Any:
    """POST the event; return the function's result or raise InvokeError.

    Failure: a connection error, an HTTP status other than 2xx, an
    ``X-Amz-Function-Error`` header, or a JSON body carrying ``errorMessage`` (how the
    emulator reports an unhandled exception).
    """
    request = urllib.request.Request(  # noqa: S310 - an http(s) URL the operator gave
        url,
        data=json.dumps(event).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with (
            _environment_lock(url),
            urllib.request.urlopen(request, timeout=timeout) as response,  # noqa: S310
        ):
            body = response.read()
            function_error = response.headers.get("X-Amz-Function-Error")
    except urllib.error.HTTPError as exc:
        raise InvokeError(f"{url} answered HTTP {exc.code}") from exc
    except OSError as exc:
        raise InvokeError(f"{url} unreachable: {exc}") from exc
    try:
        payload = json.loads(body) if body else None
    except ValueError:
        payload = None
    if function_error or (isinstance(payload, dict) and "errorMessage" in payload):
        message = payload.get("errorMessage") if isinstance(payload, dict) else body[:200]
        raise InvokeError(f"function error ({function_error or 'Unhandled'}): {message}")
    return payload
