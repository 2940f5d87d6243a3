"""One MongoClient per process, its URI from the environment or from Secrets Manager."""

from __future__ import annotations

import functools
import json
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from pymongo import MongoClient
from pymongo.database import Database

from overlord.adapters.config import Settings
from overlord.domain.errors import SecretUnavailable


@functools.cache  # a failure raises, and is not cached: the next request asks again
def _secret_uri(secret_arn: str) -> str:
    value = _secret_string(secret_arn)
    # The secret may hold the bare URI or a JSON object with a "uri" field.
    if value.lstrip().startswith("{"):
        try:
            uri = json.loads(value)["uri"]
        except (ValueError, KeyError, TypeError):
            # Not the value in the message: it may hold a password.
            raise SecretUnavailable(
                f'the MongoDB secret {secret_arn} holds JSON without a string "uri" field'
            ) from None
        return str(uri)
    return value.strip()


def _secret_string(secret_arn: str) -> str:
    """The secret's value; SecretUnavailable, saying what is missing, if it cannot be read
    (the time between the first `terraform apply` and `put-secret-value` included)."""
    try:
        answer = boto3.client("secretsmanager").get_secret_value(SecretId=secret_arn)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Error")
        if code == "ResourceNotFoundException":
            raise SecretUnavailable(
                f"the MongoDB secret {secret_arn} has no value (or does not exist): set it "
                f"with `aws secretsmanager put-secret-value --secret-id {secret_arn} "
                "--secret-string <mongodb URI>`"
            ) from None
        raise SecretUnavailable(
            f"Secrets Manager did not give the MongoDB secret {secret_arn}: {code}"
        ) from None
    except BotoCoreError as exc:
        raise SecretUnavailable(
            f"Secrets Manager unreachable reading the MongoDB secret {secret_arn}: "
            f"{type(exc).__name__}"
        ) from None
    if "SecretString" not in answer:
        raise SecretUnavailable(f"the MongoDB secret {secret_arn} holds binary, not a URI")
    return str(answer["SecretString"])


def resolve_uri(settings: Settings) -> str:
    if settings.mongodb_uri:
        return settings.mongodb_uri
    if settings.mongodb_secret_arn:
        return _secret_uri(settings.mongodb_secret_arn)
    raise RuntimeError("set MONGODB_URI or MONGODB_SECRET_ARN")


_clients: dict[str, MongoClient] = {}
_clients_lock = threading.Lock()


def client_options(uri: str, settings: Settings) -> dict[str, Any]:
    """The pool and timeouts of the connection budget (Settings), except those the URI
    sets itself: pymongo would let these keyword arguments override the URI's."""
    in_uri = {k.lower() for k in parse_qs(urlsplit(uri).query)}
    options = {
        "maxPoolSize": settings.mongodb_max_pool_size,
        "maxIdleTimeMS": settings.mongodb_max_idle_time_ms,
        "connectTimeoutMS": settings.mongodb_connect_timeout_ms,
        "serverSelectionTimeoutMS": settings.mongodb_server_selection_timeout_ms,
    }
    return {k: v for k, v in options.items() if k.lower() not in in_uri}


def client_for(uri: str, settings: Settings | None = None) -> MongoClient:
    """The process's client for `uri`, created on first use and kept for warm invocations."""
    with _clients_lock:
        if uri not in _clients:
            _clients[uri] = MongoClient(
                uri,
                tz_aware=True,
                appname="overlord",
                **client_options(uri, settings or Settings()),
            )
        return _clients[uri]


def close_clients() -> None:
    """Close every client (a process that stops, or tests that move MongoDB)."""
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


def database(settings: Settings) -> Database:
    return client_for(resolve_uri(settings), settings)[settings.db_name]
