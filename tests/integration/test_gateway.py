"""The local API gateway over real HTTP: the event it builds, and API Gateway's own answers."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from overlord_local.apigateway.gateway import MAX_PAYLOAD, GatewayServer, in_process
from overlord_local.apigateway.payload import http_api_event
from overlord_local.devstack.running import http
from overlord_local.lambdas import InvokeError, LocalLambdaContext


@pytest.fixture
def seen():
    return []


@pytest.fixture
def gateway(seen):
    def echo_handler(event, context):
        seen.append(event)
        if event["rawPath"] == "/jobs/job-explode":
            raise InvokeError("function error (Unhandled): boom")
        body = event.get("body")
        return {
            "statusCode": 201,
            "headers": {"x-request": event["requestContext"]["requestId"]},
            "body": json.dumps({"path": event["rawPath"], "body": body}),
        }

    server = GatewayServer("127.0.0.1", 0, in_process(echo_handler)).start()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


def test_request_becomes_a_payload_v2_event(gateway, seen):
    status, body = http("POST", f"{gateway}/jobs/job-1/runs?x=1&x=2&y=", {"a": 1})
    assert status == 201 and body["path"] == "/jobs/job-1/runs"
    event = seen[0]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /jobs/{job_id}/runs"
    assert event["pathParameters"] == {"job_id": "job-1"}
    assert event["rawQueryString"] == "x=1&x=2&y="
    assert event["queryStringParameters"] == {"x": "1,2", "y": ""}
    assert event["headers"]["content-type"] == "application/json"
    assert all(k == k.lower() for k in event["headers"])
    assert json.loads(event["body"]) == {"a": 1} and event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert ctx["http"]["method"] == "POST" and ctx["http"]["sourceIp"] == "127.0.0.1"
    assert isinstance(ctx["timeEpoch"], int) and ctx["requestId"]


def test_binary_bodies_are_base64(gateway, seen):
    request = urllib.request.Request(
        f"{gateway}/jobs",
        data=b"\x00\xff",
        method="POST",
        headers={"content-type": "application/octet-stream"},
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 201
    assert seen[0]["isBase64Encoded"] is True
    assert base64.b64decode(seen[0]["body"]) == b"\x00\xff"


def test_unknown_routes_go_to_the_submitter_as_the_default_route(gateway, seen):
    """As the deployed API's `$default` route: the submitter answers them (problem+json
    404), not API Gateway's bare {"message":"Not Found"} (issue 18, item 6)."""
    assert http("GET", f"{gateway}/nope")[0] == 201
    assert http("DELETE", f"{gateway}/jobs")[0] == 201
    assert [(e["routeKey"], e["rawPath"]) for e in seen] == [
        ("$default", "/nope"),
        ("$default", "/jobs"),
    ]


def test_function_error_is_500(gateway):
    status, body = http("GET", f"{gateway}/jobs/job-explode")
    assert status == 500 and body == {"message": "Internal Server Error"}


def test_payload_over_api_gateway_limit_is_413(gateway, seen):
    request = urllib.request.Request(
        f"{gateway}/jobs", data=b"x" * (MAX_PAYLOAD + 1), method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    assert caught.value.code == 413 and seen == []


def raw_request(base: str, head: bytes, body: bytes = b"") -> bytes:
    """Send bytes as they are (no client library fixing the headers); the whole answer."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("length", [b"abc", b"-5", b"1e3", b"", b"5, 5"])
def test_a_bad_content_length_is_400_and_the_gateway_lives_on(gateway, seen, length):
    head = b"POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n"
    answer = raw_request(gateway, head, b"{}")
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b'"Bad Request"' in answer
    assert seen == []
    assert http("POST", f"{gateway}/jobs", {"a": 1})[0] == 201


def test_a_body_over_the_limit_is_413_once_read(gateway, seen):
    body = b"x" * (MAX_PAYLOAD + 1)
    head = b"POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
    answer = raw_request(gateway, head, body)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert seen == []


def test_one_invocation_at_a_time_per_handler():
    """A Lambda execution environment runs one invocation at a time, and the submitter's
    module state relies on it (Powertools' resolver keeps the current route in its
    module-level `app.context`; two at once answered 500 with KeyError '_route')."""
    inside, most = 0, 0
    guard = threading.Lock()

    def slow_handler(event, context):
        nonlocal inside, most
        with guard:
            inside += 1
            most = max(most, inside)
        time.sleep(0.05)
        with guard:
            inside -= 1
        return {"statusCode": 200, "body": "{}"}

    server = GatewayServer("127.0.0.1", 0, in_process(slow_handler)).start()
    try:
        url = f"http://127.0.0.1:{server.port}/jobs"
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: http("POST", url, {})[0], range(16)))
    finally:
        server.stop()
    assert statuses == [200] * 16
    assert most == 1


def test_powertools_keeps_the_current_event_on_the_resolver_class():
    """Why the in-process submitter cannot run twice at once even as two copies of its
    module (tried: one POST in 600 was answered with another's job): Powertools stores
    the event it resolves on the BaseRouter class. If this fails, Powertools changed, and
    separate resolvers could serve requests at once."""
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    first, second = APIGatewayHttpResolver(), APIGatewayHttpResolver()
    seen: list[str] = []

    @first.get("/a")
    def a() -> dict[str, str]:
        seen.append(second.current_event.path)
        return {}

    first.resolve(http_api_event("GET", "/a"), LocalLambdaContext())
    assert seen == ["/a"]  # the other resolver sees this one's request
