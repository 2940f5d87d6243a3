"""Errors the local Batch returns in AWS's shape."""

from __future__ import annotations


class BatchError(Exception):
    """An AWS error answer: ``status`` and ``error_type`` (``__type`` / ``x-amzn-ErrorType``)."""

    status = 500
    error_type = "ServerException"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ClientException(BatchError):
    """AWS Batch's ``ClientException``: HTTP 400, the caller's fault."""

    status = 400
    error_type = "ClientException"


class ServerException(BatchError):
    """AWS Batch's ``ServerException``: HTTP 500, our fault."""

    status = 500
    error_type = "ServerException"


class TooManyRequestsException(BatchError):
    """Throttling: HTTP 429 (botocore retries it as a throttle by default)."""

    status = 429
    error_type = "TooManyRequestsException"
