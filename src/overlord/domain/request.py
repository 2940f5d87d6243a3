"""The job request: what a client may send to ``POST /jobs``, validated with pydantic."""

from __future__ import annotations

import json
import unicodedata
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

from overlord.domain.errors import InvalidRequest
from overlord.domain.identity import (
    NotCanonicalizable,
    canonical_json,
    canonical_list,
    job_id_from_canonical,
)

MAX_BODY_BYTES = 256 * 1024  # a single job's request
# An array request (`items`). The binding limit is Lambda's, not API Gateway's (10 MB):
# a synchronous invocation carries at most 6 MB, and the event holds the body as a JSON
# string, so its quotes and backslashes are escaped once more. 4 MiB leaves room for
# 40 % of escapes plus the headers; 10,000 items of up to ~400 bytes each fit.
MAX_ARRAY_BODY_BYTES = 4 * 1024 * 1024
MAX_PARAMETERS_BYTES = 64 * 1024  # as canonical JSON; also each item's limit
MAX_ITEMS_BYTES = MAX_ARRAY_BODY_BYTES  # the whole list as canonical JSON
# AWS Batch's array sizes (arrayProperties.size); one item is a job with `parameters`.
MIN_ITEMS, MAX_ITEMS = 2, 10_000
MAX_TAGS = 50  # AWS tag limits, as Batch applies them
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
# Far below MongoDB's 100 levels (a deeper document is refused at insert, which would
# surface as a misleading 503) and deeper than any real parameter set.
MAX_PARAMETERS_DEPTH = 32
# AWS Batch sets no maximum attempt timeout, but documents that Fargate jobs cannot
# expect to run longer than 14 days (userguide/job_timeouts.html); a larger number only
# means "none", and an unbounded one overflows BSON's int64 at insert.
MAX_TIMEOUT_SECONDS = 14 * 24 * 3600
# The characters AWS allows in tag keys and values (letters, digits, spaces, _ . : / = + - @).
_TAG_PUNCTUATION = frozenset("_.:/=+-@")

TaskName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", strict=True)]


class JobRequest(BaseModel):
    """A single job (`parameters`) or an array job (`items`: one parameter object per
    child); exactly one of the two, `parameters` ({}) when neither is sent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: TaskName
    parameters: dict[str, Any] = Field(
        default_factory=dict, strict=True, description="one job's input, checked by the task"
    )
    # The count is checked in `_two_to_ten_thousand` (messages of our own); the schema
    # states it for OpenAPI's readers.
    items: list[dict[str, Any]] | None = Field(
        None,
        strict=True,
        description=(
            "an array job: one parameters object per child (2 to 10,000), instead of "
            "parameters; child i runs items[i]"
        ),
        json_schema_extra={"minItems": MIN_ITEMS, "maxItems": MAX_ITEMS},
    )
    key: Annotated[str, StringConstraints(min_length=1, max_length=256, strict=True)] | None = None
    tags: dict[str, str] = Field(default_factory=dict, strict=True)
    # Absent: the task's own; present: at most the task's (services.submit.admit).
    attempts: Annotated[int, Field(ge=1, le=10, strict=True)] | None = None
    timeout_seconds: Annotated[int, Field(ge=60, le=MAX_TIMEOUT_SECONDS, strict=True)] | None = None

    # The input's canonical JSON, computed once: it sizes it, names the job and is what
    # the worker receives (the parameters object, or the items list).
    _canonical_input: bytes = PrivateAttr(b"")
    _job_id: str = PrivateAttr("")

    @model_validator(mode="after")
    def _canonical_form(self) -> JobRequest:
        if self.items is not None:
            if "parameters" in self.model_fields_set:
                raise InvalidRequest(
                    "items: send either parameters (one job) or items (an array job), not both"
                )
            canonical = _canonical_items(self.items)
            self._canonical_input = canonical
            self._job_id = job_id_from_canonical(self.task, canonical, self.key, field="items")
            return self
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
        self._canonical_input = canonical
        self._job_id = job_id_from_canonical(self.task, canonical, self.key)
        return self

    @field_validator("items")
    @classmethod
    def _two_to_ten_thousand(
        cls, items: list[dict[str, Any]] | None
    ) -> list[dict[str, Any]] | None:
        if items is None:
            return None
        if len(items) < MIN_ITEMS:
            raise ValueError(
                f"{len(items)} item(s); an array job has {MIN_ITEMS} to {MAX_ITEMS} "
                "(send one job's input as parameters)"
            )
        if len(items) > MAX_ITEMS:
            raise ValueError(
                f"{len(items)} items, more than AWS Batch's array size limit of {MAX_ITEMS}"
            )
        for index, item in enumerate(items):
            if _depth(item) > MAX_PARAMETERS_DEPTH:
                raise ValueError(f"[{index}] is nested deeper than {MAX_PARAMETERS_DEPTH} levels")
        return items

    @field_validator("parameters")
    @classmethod
    def _not_too_deep(cls, parameters: dict[str, Any]) -> dict[str, Any]:
        if _depth(parameters) > MAX_PARAMETERS_DEPTH:
            raise ValueError(f"nested deeper than {MAX_PARAMETERS_DEPTH} levels")
        return parameters

    @field_validator("key")
    @classmethod
    def _printable_key(cls, key: str | None) -> str | None:
        if key is not None and any(unicodedata.category(c) == "Cc" for c in key):
            raise ValueError("must not contain control characters")
        return key

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
            if not (_aws_tag_text(tag_key) and _aws_tag_text(tag_value)):
                raise ValueError(
                    f"tag {tag_key[:40]!r}: only letters, digits, spaces and _ . : / = + - @ "
                    "are allowed (AWS's tag rules)"
                )
        return tags

    @property
    def job_id(self) -> str:
        return self._job_id

    @property
    def is_array(self) -> bool:
        return self.items is not None

    @property
    def input_json(self) -> str:
        """The canonical JSON of the parameters object, or of the items list."""
        return self._canonical_input.decode()

    @property
    def parameters_json(self) -> str:
        return self.input_json


def _canonical_items(items: list[dict[str, Any]]) -> bytes:
    """The list's canonical JSON, built from each item's (so each is sized on its own)."""
    parts = []
    total = 2 + len(items) - 1  # the brackets and the commas
    for index, item in enumerate(items):
        try:
            part = canonical_json(item)
        except NotCanonicalizable as exc:
            raise InvalidRequest(
                f"items[{index}]: not representable as canonical JSON: {exc}"
            ) from None
        if len(part) > MAX_PARAMETERS_BYTES:
            raise InvalidRequest(
                f"items[{index}]: {len(part)} bytes as canonical JSON, more than the limit of "
                f"{MAX_PARAMETERS_BYTES} for one item",
                too_large=True,
            )
        total += len(part)
        parts.append(part)
    if total > MAX_ITEMS_BYTES:
        raise InvalidRequest(
            f"items: {total} bytes as canonical JSON, more than the limit of {MAX_ITEMS_BYTES}",
            too_large=True,
        )
    return canonical_list(parts)


def _aws_tag_text(text: str) -> bool:
    return all(c in _TAG_PUNCTUATION or unicodedata.category(c)[0] in "LZN" for c in text)


def _depth(value: Any) -> int:
    """How deeply objects and arrays nest in `value` (a scalar is 0), without recursion."""
    deepest = 0
    todo: list[tuple[Any, int]] = [(value, 1)]
    while todo:
        current, level = todo.pop()
        if isinstance(current, dict):
            children: Any = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        deepest = max(deepest, level)
        todo.extend((child, level + 1) for child in children)
    return deepest


def _is_text(value: str) -> bool:
    """False for a string holding a lone UTF-16 surrogate (JSON's "\\ud800"): it is no
    Unicode text, and UTF-8 (BSON, logs, Batch) cannot encode it."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(text: str, limit: int) -> str:
    return text.encode("utf-8", "backslashreplace").decode()[:limit]


def _reject_lone_surrogates(data: dict[str, Any]) -> None:
    for field, value in data.items():
        if not _is_text(field):
            raise InvalidRequest(f"{_shown(field, 64)}: a field name that is not Unicode text")
        todo: list[tuple[Any, str]] = [(value, field)]
        while todo:
            current, path = todo.pop()
            if isinstance(current, str):
                strings: list[str] = [current]
            elif isinstance(current, dict):
                strings = list(current)
                todo.extend((child, f"{path}.{k}") for k, child in current.items())
            elif isinstance(current, list):
                strings = []
                todo.extend((child, f"{path}[{i}]") for i, child in enumerate(current))
            else:
                continue
            if not all(map(_is_text, strings)):
                raise InvalidRequest(
                    f"{_shown(field, 64)}: {_shown(path, 80)} holds a lone UTF-16 surrogate, "
                    "which is not Unicode text"
                )


def _field_path(loc: tuple[int | str, ...]) -> str:
    """`items[3].seconds`: list positions in brackets, as the schema checks write them."""
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    return path.removeprefix(".") or "body"


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
    """Parse and validate a request body, raising InvalidRequest with a field-naming message.

    Bytes must be UTF-8 (RFC 8259 §8.1): json.loads would otherwise guess UTF-16 or 32.
    A body may be up to MAX_ARRAY_BODY_BYTES when it is an array request (`items`), else
    up to MAX_BODY_BYTES: only parsing tells which.
    """
    size = len(body.encode("utf-8", "surrogatepass")) if isinstance(body, str) else len(body or b"")
    if size > MAX_ARRAY_BODY_BYTES:
        raise InvalidRequest(
            f"body: {size} bytes, more than the limit of {MAX_ARRAY_BODY_BYTES} (an array request)",
            too_large=True,
        )
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidRequest(
                f"body: not UTF-8 (byte 0x{body[exc.start]:02x} at offset {exc.start})"
            ) from None
    if body is None or not body.strip():
        raise InvalidRequest("body: a JSON object is required")
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except ValueError as exc:
        raise InvalidRequest(f"body: invalid JSON: {exc}") from None
    except RecursionError:
        raise InvalidRequest("body: invalid JSON: nested too deeply") from None
    if size > MAX_BODY_BYTES and not (isinstance(data, dict) and "items" in data):
        raise InvalidRequest(
            f"body: {size} bytes, more than the limit of {MAX_BODY_BYTES} "
            f"(an array request, with items, may have up to {MAX_ARRAY_BODY_BYTES})",
            too_large=True,
        )
    return validate_job_request(data)


def validate_job_request(data: Any) -> JobRequest:
    if not isinstance(data, dict):
        raise InvalidRequest("body: must be a JSON object")
    _reject_lone_surrogates(data)
    try:
        return JobRequest.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest(describe_validation_error(exc)) from None
