"""Errors the local Batch returns in AWS's shape."""

from __future__ import annotations


class ClientException(Exception):
    """AWS Batch's ``ClientException``: HTTP 400, the caller's fault."""

    status = 400
    error_type = "ClientException"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ServerException(Exception):
    """AWS Batch's ``ServerException``: HTTP 500, our fault."""

    status = 500
    error_type = "ServerException"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
