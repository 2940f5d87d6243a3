"""One MongoClient per process, its URI from the environment or from Secrets Manager."""

from __future__ import annotations

import functools
import json
import threading

import boto3
from pymongo import MongoClient
from pymongo.database import Database

from overlord.adapters.config import Settings

SERVER_SELECTION_TIMEOUT_MS = 5_000


@functools.cache
def _secret_uri(secret_arn: str) -> str:
    value = boto3.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]
    # The secret may hold the bare URI or a JSON object with a "uri" field.
    if value.lstrip().startswith("{"):
        return str(json.loads(value)["uri"])
    return value.strip()


def resolve_uri(settings: Settings) -> str:
    if settings.mongodb_uri:
        return settings.mongodb_uri
    if settings.mongodb_secret_arn:
        return _secret_uri(settings.mongodb_secret_arn)
    raise RuntimeError("set MONGODB_URI or MONGODB_SECRET_ARN")


_clients: dict[str, MongoClient] = {}
_clients_lock = threading.Lock()


def client_for(uri: str) -> MongoClient:
    """The process's client for `uri`, created on first use and kept for warm invocations."""
    with _clients_lock:
        if uri not in _clients:
            _clients[uri] = MongoClient(
                uri,
                serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS,
                tz_aware=True,
                appname="overlord",
            )
        return _clients[uri]


def close_clients() -> None:
    """Close every client (a process that stops, or tests that move MongoDB)."""
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


def database(settings: Settings) -> Database:
    return client_for(resolve_uri(settings))[settings.db_name]
