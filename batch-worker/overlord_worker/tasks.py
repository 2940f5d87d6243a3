"""The built-in tasks."""

from __future__ import annotations

import hashlib
import time
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from overlord.adapters import aws
from overlord.bucket_layout import parse_s3_uri
from overlord_worker.registry import BadParameters, TaskContext, TaskExit


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


P = TypeVar("P", bound=_Params)


def _parse(model: type[P], parameters: dict[str, Any]) -> P:
    try:
        return model.model_validate(parameters)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'parameters'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise BadParameters(problems) from None


class EchoParams(_Params):
    message: str


def echo(parameters: dict[str, Any], context: TaskContext) -> dict[str, Any]:
    """Print `message` (as a JSON log line, like everything on stdout) and return it."""
    p = _parse(EchoParams, parameters)
    context.log.info(p.message)
    return {"message": p.message}


class SleepParams(_Params):
    seconds: Annotated[float, Field(ge=0, le=86_400)]


def sleep(parameters: dict[str, Any], context: TaskContext) -> dict[str, Any]:
    p = _parse(SleepParams, parameters)
    context.log.info("sleeping", extra={"seconds": p.seconds})
    time.sleep(p.seconds)
    return {"slept": p.seconds}


class FailParams(_Params):
    exit_code: Annotated[int, Field(ge=1, le=255)] = 1
    message: str = "failed on purpose"
    # Succeed from this attempt on: exercises Batch's retries.
    succeed_on_attempt: Annotated[int, Field(ge=1, le=10)] | None = None


def fail(parameters: dict[str, Any], context: TaskContext) -> dict[str, Any]:
    p = _parse(FailParams, parameters)
    if p.succeed_on_attempt is not None and context.attempt >= p.succeed_on_attempt:
        context.log.info("succeeding", extra={"attempt": context.attempt})
        return {"succeeded_on_attempt": context.attempt}
    raise TaskExit(p.exit_code, p.message)


class ChecksumParams(_Params):
    s3_uri: Annotated[str, Field(pattern=r"^s3://[^/]+/.+")]


def checksum(parameters: dict[str, Any], context: TaskContext) -> dict[str, Any]:
    """SHA-256 of an S3 object, streamed."""
    p = _parse(ChecksumParams, parameters)
    bucket, key = parse_s3_uri(p.s3_uri)
    body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    digest = hashlib.sha256()
    size = 0
    for chunk in iter(lambda: body.read(1024 * 1024), b""):
        digest.update(chunk)
        size += len(chunk)
    return {"s3_uri": p.s3_uri, "sha256": digest.hexdigest(), "size": size}
