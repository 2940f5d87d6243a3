"""boto3 clients, created once per process, with timeouts and standard retries.

Endpoints come from boto3's own AWS_ENDPOINT_URL[_<SERVICE>] variables.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(
    connect_timeout=5,
    read_timeout=20,
    retries={"mode": "standard", "max_attempts": 5},
)


@functools.cache
def client(service: str) -> Any:
    return boto3.client(service, config=_CONFIG)  # type: ignore[call-overload]


def reset_clients() -> None:
    """Forget cached clients (tests that move endpoints between runs)."""
    client.cache_clear()
