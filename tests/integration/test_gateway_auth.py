"""SigV4 on the local gateway, over real HTTP: what an HTTP API route with AWS_IAM does."""

from __future__ import annotations

import hashlib
import json
import subprocess
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from shutil import which

import botocore.auth
import pytest

from overlord_local.apigateway.gateway import GatewayServer, in_process
from overlord_local.apigateway.sigv4 import Verifier, sign
from overlord_local.client import ApiClient, static_credentials

KEY, SECRET = "overlord-local", "s3cret-of-this-stack"
FORBIDDEN = {"message": "Forbidden"}


@pytest.fixture
def seen():
    return []


@pytest.fixture
def gateway(seen):
    def handler(event, context):
        seen.append(event)
        return {"statusCode": 200, "body": json.dumps({"ok": True})}

    server = GatewayServer(
        "127.0.0.1", 0, in_process(handler), Verifier(KEY, SECRET, "us-east-1")
    ).start()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


def client(url, secret=SECRET, key=KEY, region="us-east-1"):
    return ApiClient(url, static_credentials(key, secret), region)


def test_a_signed_request_passes_with_the_callers_identity(gateway, seen):
    answer = client(gateway).post("/jobs", {"task": "echo"})
    assert answer.status == 200, answer.body
    iam = seen[0]["requestContext"]["authorizer"]["iam"]
    assert iam["accessKey"] == KEY and iam["callerId"] == KEY and iam["userArn"] is None
    assert set(iam) == {
        "accessKey",
        "accountId",
        "callerId",
        "cognitoIdentity",
        "principalOrgId",
        "userArn",
        "userId",
    }


def test_query_strings_are_canonicalised_as_aws_does(gateway, seen):
    query = [("tag", "team:a b"), ("tag", "x/y"), ("status", "SUCCEEDED"), ("e", "")]
    answer = client(gateway).get("/jobs", query)
    assert answer.status == 200, answer.body
    assert seen[0]["queryStringParameters"]["tag"] == "team:a b,x/y"


@pytest.mark.parametrize(
    "who",
    [
        pytest.param(None, id="unsigned"),
        pytest.param(client("", secret="wrong"), id="wrong-secret"),
        pytest.param(client("", key="someone-else"), id="other-key"),
        pytest.param(client("", region="eu-west-1"), id="other-region"),
    ],
)
def test_unsigned_or_wrongly_signed_is_403_and_invokes_nothing(gateway, seen, who):
    if who is None:
        api = ApiClient(gateway)
    else:
        creds = who.credentials
        api = client(gateway, creds.secret_key, creds.access_key, who.region)
    answer = api.post("/jobs", {"task": "echo"})
    assert (answer.status, answer.body) == (403, FORBIDDEN)
    assert seen == []


def test_an_expired_signature_is_403(gateway, seen, monkeypatch):
    then = datetime.now(UTC) - timedelta(minutes=6)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: then.replace(tzinfo=None))
    answer = client(gateway).get("/jobs")
    assert (answer.status, answer.body) == (403, FORBIDDEN)
    assert seen == []


def test_a_body_changed_after_signing_is_403(gateway, seen):
    api = client(gateway)
    url = f"{gateway}/jobs"
    headers = sign(
        "POST", url, {"content-type": "application/json"}, b'{"a":1}', api.credentials, "us-east-1"
    )
    request = urllib.request.Request(url, data=b'{"a":2}', method="POST", headers=headers)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    assert caught.value.code == 403 and json.loads(caught.value.read()) == FORBIDDEN
    assert seen == []


def _send(url, body, headers):
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize(
    "declared",
    [
        pytest.param("UNSIGNED-PAYLOAD", id="unsigned-payload"),
        pytest.param(hashlib.sha256(b'{"a":1}').hexdigest(), id="another-body's-hash"),
        pytest.param("not-a-hash", id="garbage"),
    ],
)
def test_a_declared_payload_hash_must_be_the_bodys(gateway, seen, declared):
    """execute-api signs the payload: only S3 documents UNSIGNED-PAYLOAD. A signature
    over a declared x-amz-content-sha256 that is not the body's hash covers no body, so
    whoever holds one signed request could send any body with it."""
    api = client(gateway)
    url = f"{gateway}/jobs"
    body = b'{"task":"echo","parameters":{"message":"not what was signed"}}'
    headers = sign(
        "POST",
        url,
        {"content-type": "application/json", "x-amz-content-sha256": declared},
        body,
        api.credentials,
        "us-east-1",
    )
    assert _send(url, body, headers) == (403, FORBIDDEN)
    assert seen == []


def test_a_declared_payload_hash_equal_to_the_bodys_passes(gateway, seen):
    api = client(gateway)
    url = f"{gateway}/jobs"
    body = b'{"task":"echo"}'
    declared = {"content-type": "application/json"}
    declared["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    headers = sign("POST", url, declared, body, api.credentials, "us-east-1")
    assert _send(url, body, headers) == (200, {"ok": True})
    assert len(seen) == 1


def test_health_stays_open(gateway, seen):
    assert ApiClient(gateway).get("/health").status == 200


@pytest.mark.skipif(which("curl") is None, reason="no curl")
def test_curl_aws_sigv4_as_in_the_readme(gateway, seen):
    base = [
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--aws-sigv4",
        "aws:amz:us-east-1:execute-api",
        "--user",
        f"{KEY}:{SECRET}",
    ]
    post = [
        *base,
        "-X",
        "POST",
        f"{gateway}/jobs",
        "-H",
        "content-type: application/json",
        "-d",
        '{"task":"echo","parameters":{"message":"hello"}}',
    ]
    assert subprocess.run(post, capture_output=True, text=True, check=True).stdout == "200"
    # Parameters in name order: curl before 8.x signs the query unsorted, which AWS (and
    # this gateway) refuse.
    listed = [*base, f"{gateway}/jobs?limit=5&status=SUCCEEDED"]
    assert subprocess.run(listed, capture_output=True, text=True, check=True).stdout == "200"
    wrong = [*base[:-1], f"{KEY}:nope", f"{gateway}/jobs"]
    assert subprocess.run(wrong, capture_output=True, text=True, check=True).stdout == "403"


def test_the_default_route_needs_a_signature_too(gateway, seen):
    """`$default` uses AWS_IAM like every other route: unsigned, nothing is invoked."""
    answer = ApiClient(gateway).get("/nope")
    assert (answer.status, answer.body) == (403, FORBIDDEN)
    assert seen == []
    assert client(gateway).get("/nope").status == 200
