"""Calling the submitter handler the way API Gateway does."""

from __future__ import annotations

import json
from typing import Any

from overlord_local.apigateway.payload import http_api_event, http_response
from overlord_local.lambdas import LocalLambdaContext


class Api:
    def __init__(self, handler: Any, timeout_seconds: float = 60.0) -> None:
        self.handler = handler
        self.timeout_seconds = timeout_seconds  # the function's, as the context tells it

    def call(
        self, method: str, path: str, body: Any = None, query: str = "", iam: Any = None
    ) -> tuple[int, dict[str, str], Any]:
        """`iam`: requestContext.authorizer.iam, as API Gateway fills it for a signed call."""
        raw = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
        event = http_api_event(
            method,
            path,
            body=raw,
            query=query,
            headers={"content-type": "application/json"},
            authorizer={"iam": iam} if iam else None,
        )
        context = LocalLambdaContext(timeout_seconds=self.timeout_seconds)
        response = http_response(self.handler(event, context))
        payload = json.loads(response.body) if response.body else None
        return response.status, response.headers, payload

    def post(self, path: str, body: Any = None, iam: Any = None) -> tuple[int, dict[str, str], Any]:
        return self.call("POST", path, body, iam=iam)

    def get(self, path: str, query: str = "") -> tuple[int, dict[str, str], Any]:
        return self.call("GET", path, query=query)
