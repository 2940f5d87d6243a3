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
