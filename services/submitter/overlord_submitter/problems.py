"""RFC 9457 problem details (`application/problem+json`): the one shape of every error."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from overlord_submitter.models import Problem

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:overlord:problem:"


def problem_type(status: HTTPStatus) -> str:
    return TYPE_PREFIX + status.phrase.lower().replace(" ", "-")


def problem(
    status: HTTPStatus,
    detail: str,
    *,
    errors: Sequence[tuple[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """`detail` starts with the field at fault; `errors` lists every (field, message)."""
    body: dict[str, Any] = {
        "type": problem_type(status),
        "title": status.phrase,
        "status": int(status),
        "detail": detail,
    }
    found = list(errors) if errors is not None else _fields_of(detail)
    if found:
        body["errors"] = [{"field": f, "message": m} for f, m in found]
    return Response(
        status_code=status,
        content_type=PROBLEM_JSON,
        body=json.dumps(body),
        headers=dict(headers or {}),
    )


def _fields_of(detail: str) -> list[tuple[str, str]]:
    """Our messages are "field: what is wrong" joined by "; " (request.py), so a 400's
    fields can be read back from its detail."""
    found = []
    for part in detail.split("; "):
        field, sep, message = part.partition(": ")
        if not sep or " " in field:
            return []
        found.append((field, message))
    return found


def problem_from_validation(problems: Sequence[Any]) -> Response:
    """The parameters Powertools validated against the route's annotations."""
    errors = []
    for item in problems:
        loc = [str(p) for p in item.get("loc", ())]
        # ("query", "limit") → "limit"; ("query", "kind", 0) → "kind": a query parameter
        # is named as the client wrote it, whichever of its repeated values is wrong.
        if loc and loc[0] in {"query", "path"}:
            field = loc[1] if len(loc) > 1 else ""
        else:
            field = ".".join(loc[1:] if loc and loc[0] == "body" else loc)
        errors.append((field or "request", str(item.get("msg", "invalid"))))
    detail = "; ".join(f"{f}: {m}" for f, m in errors) or "request: invalid"
    return problem(HTTPStatus.BAD_REQUEST, detail, errors=errors)


def responses(ok: Mapping[int, type[Any]], *error_statuses: int) -> dict[int, OpenAPIResponse]:
    """The OpenAPI responses of a route: its answers' models, and Problem for each error."""
    documented: dict[int, OpenAPIResponse] = {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {"application/json": {"model": model}},
        }
        for status, model in ok.items()
    }
    for status in error_statuses:
        documented[status] = {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {"model": Problem}},
        }
    return documented
