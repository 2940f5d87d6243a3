"""The built-in tasks. Their parameters are declared, and checked before they run, in
their catalogue files (``contracts/tasks/<name>.json``)."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from overlord_contracts.bucket_layout import parse_s3_uri
from overlord_worker.registry import TaskContext, TaskExit


def echo(parameters: dict[str, Any], context: TaskContext) -> dict[str, Any]:
    """Print `message` (as a JSON log line, like everything on stdout) and return it."""
    message = parameters["message"]
    getattr(context.log, parameters.get("level", "info"))(message)
    return {"message": message}


def sleep(parameters: dict[str, Any], context: TaskContext) -> dict[str, Any]:
    seconds = parameters["seconds"]
    context.log.info("sleeping", extra={"seconds": seconds})
    time.sleep(seconds)
    return {"slept": seconds}


def fail(parameters: dict[str, Any], context: TaskContext) -> dict[str, Any]:
    succeed_on = parameters.get("succeed_on_attempt")
    if succeed_on is not None and context.attempt >= succeed_on:
        context.log.info("succeeding", extra={"attempt": context.attempt})
        return {"succeeded_on_attempt": context.attempt}
    raise TaskExit(parameters["exit_code"], parameters["message"])


def checksum(parameters: dict[str, Any], context: TaskContext) -> dict[str, Any]:
    """SHA-256 of an S3 object, streamed."""
    from overlord.adapters import aws  # here: the other tasks need no AWS client

    s3_uri = parameters["s3_uri"]
    bucket, key = parse_s3_uri(s3_uri)
    body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    digest = hashlib.sha256()
    size = 0
    for chunk in iter(lambda: body.read(1024 * 1024), b""):
        digest.update(chunk)
        size += len(chunk)
    return {"s3_uri": s3_uri, "sha256": digest.hexdigest(), "size": size}
