"""MONGODB_SECRET_ARN: the URI read from Secrets Manager (moto), bare or as JSON."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from overlord.adapters import mongo_client
from overlord.runtime import wiring
from overlord_submitter.handler import lambda_handler
from tests.conftest import environment
from tests.support.api import Api


@pytest.mark.parametrize("as_json", [False, True])
def test_the_uri_comes_from_the_secret(app_env, aws, mongodb_uri, as_json):
    value = json.dumps({"uri": mongodb_uri}) if as_json else mongodb_uri
    arn = aws.secretsmanager.create_secret(Name=f"mongo-{uuid.uuid4().hex}", SecretString=value)[
        "ARN"
    ]
    saved = os.environ.pop("MONGODB_URI")
    try:
        with environment(MONGODB_SECRET_ARN=arn):
            wiring.reset()
            assert mongo_client.resolve_uri(wiring.components().settings) == mongodb_uri
            status, _, body = Api(lambda_handler).post(
                "/jobs", {"task": "anything", "parameters": {"via": "secret", "json": as_json}}
            )
            assert status == 202, body
    finally:
        os.environ["MONGODB_URI"] = saved
        wiring.reset()


@pytest.fixture
def via_secret(app_env):
    """MONGODB_URI unset: the URI must come from MONGODB_SECRET_ARN (set by each test)."""
    saved = os.environ.pop("MONGODB_URI")
    mongo_client._secret_uri.cache_clear()
    try:
        yield
    finally:
        os.environ["MONGODB_URI"] = saved
        mongo_client._secret_uri.cache_clear()
        wiring.reset()


def _problem(path: str) -> tuple[int, dict, dict]:
    wiring.reset()
    status, headers, body = Api(lambda_handler).get(path)
    return status, headers, body


@pytest.mark.parametrize("path", ["/health", "/tasks", "/jobs"])
def test_a_secret_without_a_value_is_503_naming_what_is_missing(via_secret, aws, path):
    """Between the first apply and put-secret-value the secret exists with no value:
    GetSecretValue answers ResourceNotFoundException (issue 18, item 2)."""
    arn = aws.secretsmanager.create_secret(Name=f"mongo-{uuid.uuid4().hex}")["ARN"]
    with environment(MONGODB_SECRET_ARN=arn):
        status, headers, body = _problem(path)
    assert status == 503, body
    assert {k.lower(): v for k, v in headers.items()}["content-type"] == "application/problem+json"
    assert arn in body["detail"] and "put-secret-value" in body["detail"], body


def test_secrets_manager_unreachable_is_503_and_health_says_why(via_secret, aws, mongodb_uri):
    arn = aws.secretsmanager.create_secret(
        Name=f"mongo-{uuid.uuid4().hex}", SecretString=mongodb_uri
    )["ARN"]
    with environment(MONGODB_SECRET_ARN=arn, AWS_ENDPOINT_URL_SECRETS_MANAGER="http://127.0.0.1:9"):
        status, headers, body = _problem("/health")
    assert status == 503, body
    assert {k.lower(): v for k, v in headers.items()}["content-type"] == "application/problem+json"
    assert "Secrets Manager" in body["detail"] and arn in body["detail"], body
    # Once it answers again, the next request reads the secret: nothing bad was cached.
    with environment(MONGODB_SECRET_ARN=arn):
        assert _problem("/health")[0] == 200


def test_a_json_secret_without_uri_is_503_without_showing_the_value(via_secret, aws):
    value = json.dumps({"url": "mongodb://user:hunter2@db.example"})
    arn = aws.secretsmanager.create_secret(Name=f"mongo-{uuid.uuid4().hex}", SecretString=value)[
        "ARN"
    ]
    with environment(MONGODB_SECRET_ARN=arn):
        status, _, body = _problem("/health")
    assert status == 503, body
    assert '"uri"' in body["detail"] and "hunter2" not in json.dumps(body), body
