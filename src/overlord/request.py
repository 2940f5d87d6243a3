"""The job request: what a client may send to ``POST /jobs``, validated with pydantic."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from overlord.errors import InvalidRequest
from overlord.identity import NotCanonicalizable, canonical_json, job_id_from_canonical

MAX_BODY_BYTES = 256 * 1024
MAX_PARAMETERS_BYTES = 64 * 1024  # as canonical JSON
MAX_TAGS = 50  # AWS tag limits, as Batch applies them
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256

TaskName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", strict=True)]


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    task: TaskName
    parameters: dict[str, Any] = Field(default_factory=dict, strict=True)
    key: Annotated[str, StringConstraints(min_length=1, max_length=256, strict=True)] | None = None
    tags: dict[str, str] = Field(default_factory=dict, strict=True)
    attempts: Annotated[int, Field(ge=1, le=10, strict=True)] = 1
    timeout_seconds: Annotated[int, Field(ge=60, strict=True)] | None = None

    # The parameters' canonical JSON, computed once: it sizes them, names the job and
    # is what the worker receives.
    _canonical_parameters: bytes = PrivateAttr(b"")
    _job_id: str = PrivateAttr("")

    @model_validator(mode="after")
    def _canonical_form(self) -> JobRequest:
        try:
            canonical = canonical_json(self.parameters)
        except NotCanonicalizable as exc:
            raise InvalidRequest(
                f"parameters: not representable as canonical JSON: {exc}"
            ) from None
        if len(canonical) > MAX_PARAMETERS_BYTES:
            raise InvalidRequest(
                f"parameters: {len(canonical)} bytes as canonical JSON, more than the limit of "
                f"{MAX_PARAMETERS_BYTES}",
                too_large=True,
            )
        self._canonical_parameters = canonical
        self._job_id = job_id_from_canonical(self.task, canonical, self.key)
        return self

    @field_validator("tags")
    @classmethod
    def _tags_within_aws_limits(cls, tags: dict[str, str]) -> dict[str, str]:
        if len(tags) > MAX_TAGS:
            raise ValueError(f"at most {MAX_TAGS} tags")
        for tag_key, tag_value in tags.items():
            if not 1 <= len(tag_key) <= MAX_TAG_KEY:
                raise ValueError(f"tag key {tag_key[:40]!r} must be 1 to {MAX_TAG_KEY} characters")
            if tag_key.lower().startswith("aws:"):
                raise ValueError(f"tag key {tag_key!r} uses the reserved prefix 'aws:'")
            if len(tag_value) > MAX_TAG_VALUE:
                raise ValueError(f"tag {tag_key!r} value is longer than {MAX_TAG_VALUE} characters")
        return tags

    @property
    def job_id(self) -> str:
        return self._job_id

    @property
    def parameters_json(self) -> str:
        return self._canonical_parameters.decode()


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem, each starting with the field it is about."""
    parts = []
    for problem in error.errors(include_url=False):
        message = problem["msg"].removeprefix("Value error, ")
        parts.append(f"{_field_path(problem['loc'])}: {message}")
    return "; ".join(parts)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_job_request(body: str | bytes | None) -> JobRequest:
    """Parse and validate a request body, raising InvalidRequest with a field-naming message."""
    if body is not None and len(body) > MAX_BODY_BYTES:
        raise InvalidRequest(
            f"body: {len(body)} bytes, more than the limit of {MAX_BODY_BYTES}", too_large=True
        )
    if body is None or not body.strip():
        raise InvalidRequest("body: a JSON object is required")
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"body: invalid JSON: {exc}") from None
    return validate_job_request(data)


def validate_job_request(data: Any) -> JobRequest:
    if not isinstance(data, dict):
        raise InvalidRequest("body: must be a JSON object")
    try:
        return JobRequest.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest(describe_validation_error(exc)) from None
