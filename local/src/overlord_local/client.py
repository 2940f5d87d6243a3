"""A client of the Overlord API that signs every request with SigV4, as the deployed
API requires and the local gateway checks. Used by the CLI, the tests and benchmarks.

Where it points and as whom (`from_environment`): OVERLORD_API_URL, else the running
dev stack's (.overlord/dev.env), else http://127.0.0.1:8080; the dev stack's own
credentials when talking to that stack, else botocore's credential chain (environment,
profiles, SSO, instance roles), as the AWS CLI finds them.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import botocore.session
from botocore.credentials import Credentials

from overlord_local.apigateway.sigv4 import sign

DEFAULT_URL = "http://127.0.0.1:8080"
_REGION_IN_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com")
Query = Mapping[str, Any] | Sequence[tuple[str, Any]] | None


class NoCredentials(RuntimeError):
    """Nothing to sign with."""


@dataclass(frozen=True)
class ApiResponse:
    status: int
    headers: dict[str, str]
    body: Any  # parsed JSON, or the text when it is not JSON

    @property
    def detail(self) -> str:
        """What went wrong, from a problem+json body or the gateway's {"message"}."""
        if isinstance(self.body, dict):
            return str(self.body.get("detail") or self.body.get("message") or self.body)
        return str(self.body)[:500]


def read_env_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def encode_query(query: Query) -> str:
    """RFC 3986 encoding, as SigV4 canonicalises it (so the signature holds on AWS too)."""
    if not query:
        return ""
    pairs = list(query.items()) if isinstance(query, Mapping) else list(query)
    flat: list[tuple[str, str]] = []
    for key, value in pairs:
        if value is None:
            continue
        values = value if isinstance(value, list | tuple) else [value]
        flat += [(key, str(v)) for v in values]
    return urlencode(flat, quote_via=quote, safe="-_.~")


@dataclass
class ApiClient:
    base_url: str
    credentials: Any = None  # botocore credentials; None: unsigned
    region: str = "us-east-1"
    timeout: float = 30.0
    extra_headers: dict[str, str] = field(default_factory=dict)

    def request(
        self, method: str, path: str, *, query: Query = None, body: Any = None
    ) -> ApiResponse:
        """One request; HTTP errors are returned, connection errors raised (OSError)."""
        encoded = encode_query(query)
        url = self.base_url.rstrip("/") + path + (f"?{encoded}" if encoded else "")
        data = (
            None
            if body is None
            else (body if isinstance(body, bytes) else json.dumps(body).encode())
        )
        headers = {"content-type": "application/json", **self.extra_headers} if data else {}
        if self.credentials is not None:
            creds = self.credentials
            frozen = (
                creds.get_frozen_credentials()
                if hasattr(creds, "get_frozen_credentials")
                else creds
            )
            headers = sign(method, url, headers, data, frozen, self.region)
        request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return _response(response.status, dict(response.headers.items()), response.read())
        except urllib.error.HTTPError as exc:
            return _response(exc.code, dict(exc.headers.items()), exc.read())

    def get(self, path: str, query: Query = None) -> ApiResponse:
        return self.request("GET", path, query=query)

    def post(self, path: str, body: Any = None) -> ApiResponse:
        return self.request("POST", path, body=body)


def _response(status: int, headers: dict[str, str], raw: bytes) -> ApiResponse:
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode(errors="replace")
    return ApiResponse(status, lowered, body)


def static_credentials(access_key: str, secret_key: str, token: str | None = None) -> Credentials:
    return Credentials(access_key, secret_key, token)


def region_for(url: str, fallback: str | None = None) -> str:
    found = _REGION_IN_HOST.search(urlsplit(url).netloc)
    return found.group(1) if found else (fallback or "us-east-1")


def from_environment(env_file: Path, *, timeout: float = 30.0, url: str | None = None) -> ApiClient:
    """The API the user means (`url` first), signed as the user (see the module's
    docstring)."""
    dev = read_env_file(env_file)
    url = url or os.environ.get("OVERLORD_API_URL") or dev.get("OVERLORD_API_URL") or DEFAULT_URL
    url = url.rstrip("/")
    if dev and dev.get("OVERLORD_API_URL", "").rstrip("/") == url:
        creds = static_credentials(dev["AWS_ACCESS_KEY_ID"], dev["AWS_SECRET_ACCESS_KEY"])
        return ApiClient(url, creds, dev.get("AWS_REGION", "us-east-1"), timeout)
    session = botocore.session.Session()
    found = session.get_credentials()
    if found is None:
        raise NoCredentials(
            "no AWS credentials found (environment, ~/.aws, SSO): the API needs SigV4"
        )
    return ApiClient(url, found, region_for(url, session.get_config_variable("region")), timeout)
