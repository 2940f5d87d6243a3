"""boto3 clients, created once per process, with timeouts and standard retries.

Endpoints come from boto3's own AWS_ENDPOINT_URL[_<SERVICE>] variables.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config

# Worst case per call: 3 attempts × (3 s connect + 8 s read) plus backoff stays under a
# submitter invocation's 30 s (API Gateway's limit).
_CONFIG = Config(
    connect_timeout=3,
    read_timeout=8,
    retries={"mode": "standard", "max_attempts": 3},
)
# For calls that must not be repeated blindly (SubmitJob): one attempt, the caller decides.
NO_RETRY_CONNECT_SECONDS, NO_RETRY_READ_SECONDS = 3, 10
_NO_RETRY = Config(
    connect_timeout=NO_RETRY_CONNECT_SECONDS,
    read_timeout=NO_RETRY_READ_SECONDS,
    retries={"mode": "standard", "total_max_attempts": 1},
)


@functools.cache
def client(service: str) -> Any:
    return boto3.client(service, config=_CONFIG)  # type: ignore[call-overload]


@functools.cache
def submit_client(service: str) -> Any:
    """A client whose calls botocore never retries (non-idempotent writes)."""
    return boto3.client(service, config=_NO_RETRY)  # type: ignore[call-overload]


def reset_clients() -> None:
    """Forget cached clients (tests that move endpoints between runs)."""
    client.cache_clear()
    submit_client.cache_clear()
