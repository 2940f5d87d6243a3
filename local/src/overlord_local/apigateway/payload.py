"""API Gateway HTTP API, payload format 2.0: building events and reading responses.

Used by the local gateway and by tests, so both speak exactly the same shape.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

# The routes deployed in terraform/modules/api; path parameters in API Gateway's syntax.
# Anything else takes the `$default` route, which goes to the submitter as well, so that
# an unknown route is the submitter's problem+json 404 rather than API Gateway's own.
DEFAULT_ROUTE = "$default"
ROUTES: tuple[tuple[str, str], ...] = (
    ("POST", "/jobs"),
    ("GET", "/jobs"),
    ("GET", "/jobs/{job_id}"),
    ("POST", "/jobs/{job_id}/runs"),
    ("GET", "/jobs/{job_id}/runs"),
    ("GET", "/jobs/{job_id}/logs"),
    ("POST", "/jobs/{job_id}/cancel"),
    ("GET", "/tasks"),
    ("GET", "/tasks/{name}"),
    ("GET", "/health"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
)

_TEXT_TYPES = re.compile(r"^(text/|application/(json|xml|x-www-form-urlencoded|javascript))")


def _route_regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$")


_COMPILED = [(method, template, _route_regex(template)) for method, template in ROUTES]


def match_route(method: str, path: str) -> tuple[str, dict[str, str]]:
    """The route key and path parameters for a request (`$default` and none when no
    route matches)."""
    for route_method, template, regex in _COMPILED:
        found = regex.match(path)
        if found and route_method == method:
            return f"{route_method} {template}", found.groupdict()
    return DEFAULT_ROUTE, {}


def http_api_event(
    method: str,
    path: str,
    *,
    body: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    query: str = "",
    source_ip: str = "127.0.0.1",
    authorizer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    route_key, path_parameters = match_route(method, path)
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": lowered,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": lowered.get("host", "localhost"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if authorizer is not None:
        event["requestContext"]["authorizer"] = authorizer
    if query:
        # API Gateway joins repeated keys with commas.
        params: dict[str, str] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            params[key] = f"{params[key]},{value}" if key in params else value
        event["queryStringParameters"] = params
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body is not None and len(body):
        raw = body.encode() if isinstance(body, str) else body
        if _TEXT_TYPES.match(lowered.get("content-type", "application/json")):
            try:
                event["body"] = raw.decode()
            except UnicodeDecodeError:
                event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
        else:
            event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
    return event


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def http_response(result: dict[str, Any] | str) -> HttpResponse:
    """A Lambda's result as API Gateway turns it into HTTP (payload 2.0 rules)."""
    if isinstance(result, str) or "statusCode" not in result:
        import json

        text = result if isinstance(result, str) else json.dumps(result)
        return HttpResponse(200, {"content-type": "application/json"}, text.encode())
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[name.lower()] = ",".join(map(str, values))
    if result.get("cookies"):
        headers["set-cookie"] = "; ".join(result["cookies"])
    return HttpResponse(int(result["statusCode"]), headers, raw)
