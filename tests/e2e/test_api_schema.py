"""schemathesis against GET /openapi.json on `overlord dev`'s gateway, every request
signed: no 5xx, and every answer matches the document (status, content type, body).

Runs in the in-process mode only (the handler is the same under the emulator); sorted
before test_flow.py, whose last test stops the stack.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from overlord_local.apigateway.sigv4 import canonical_query, sign
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Generated requests per operation; POST /jobs fewer, as valid ones start real jobs.
EXAMPLES = 90
SUBMISSIONS = 40
MINIMUM_REQUESTS = 500
sent: list[str] = []


class SigV4(requests.auth.AuthBase):
    """Sign as the stack's user. The query is first put in SigV4's canonical encoding
    (requests writes a space as +), so what is sent is what is signed."""

    def __init__(self, stack: Stack) -> None:
        self.credentials = stack.credentials

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        parts = urlsplit(request.url)
        request.url = urlunsplit(parts._replace(query=canonical_query(parts.query)))
        body = request.body.encode() if isinstance(request.body, str) else request.body
        headers = {k: v for k, v in request.headers.items() if k.lower() == "content-type"}
        request.headers.update(
            sign(request.method or "GET", request.url, headers, body, self.credentials, "us-east-1")
        )
        sent.append(f"{request.method} {parts.path}")
        return request


def test_api_conforms_to_its_openapi_document(stack: Stack):
    if stack.mode != "in-process":
        pytest.skip("once is enough: the handler is the same")
    status, document = stack.get("/openapi.json")
    assert status == 200, document
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=stack.url)
    session = requests.Session()
    session.auth = SigV4(stack)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8, [op.label for op in operations]
    for operation in operations:
        submits = operation.method.upper() == "POST" and operation.path == "/jobs"

        @given(case=operation.as_strategy())
        @settings(
            max_examples=SUBMISSIONS if submits else EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def conforms(case) -> None:
            case.call_and_validate(session=session, checks=CHECKS, timeout=30)

        conforms()
    assert len(sent) >= MINIMUM_REQUESTS, f"only {len(sent)} requests"
