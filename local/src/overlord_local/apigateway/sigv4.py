"""SigV4 for the local API gateway and for the clients of the API (CLI, tests).

The gateway checks each request the way an HTTP API route with AWS_IAM authorization
does: the Authorization header's scope (the stack's access key, today's date, the
region, `execute-api`), an `X-Amz-Date` within five minutes, and the signature, which
botocore's own signer recomputes over the headers the client signed. The query string
is canonicalised as AWS does (decoded, then encoded again per RFC 3986), so a client
that signs a differently encoded query fails here as it would on AWS.

The payload is always signed: the canonical request carries the SHA-256 of the body
received. A client may declare that hash in `x-amz-content-sha256`; a declared value
that is not the body's hash — `UNSIGNED-PAYLOAD` included, which only S3 documents —
is refused, because botocore's signer would otherwise take the declared value as the
payload hash and a signature would cover no body at all (anyone holding one signed
request could send any body with it). When in doubt we require what AWS's SigV4
canonical request names: the hex SHA-256 of the payload.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

SERVICE = "execute-api"
ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = timedelta(minutes=5)
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]{64})\s*$"
)


class Forbidden(Exception):
    """The request is not signed, or not signed right; the reason is for our log only."""


@dataclass(frozen=True)
class Identity:
    """What API Gateway puts in requestContext.authorizer.iam for a verified caller."""

    access_key: str
    account_id: str

    def as_authorizer(self) -> dict[str, Any]:
        return {
            "iam": {
                "accessKey": self.access_key,
                "accountId": self.account_id,
                "callerId": self.access_key,
                "cognitoIdentity": None,
                "principalOrgId": None,
                # No IAM here to say whose key it is: the key is the identity.
                "userArn": None,
                "userId": self.access_key,
            }
        }


class _Recompute(SigV4Auth):
    """botocore's signer, restricted to exactly the headers the client says it signed."""

    def __init__(self, credentials: Credentials, region: str, signed: list[str]) -> None:
        super().__init__(credentials, SERVICE, region)
        self._signed = signed

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        chosen = HTTPHeaders()
        for name in self._signed:
            chosen[name] = request.headers.get(name, "")
        return chosen


def canonical_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)


@dataclass(frozen=True)
class Verifier:
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    account_id: str = "123456789012"

    def verify(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes | None,
        now: datetime | None = None,
    ) -> Identity:
        lowered = {k.lower(): v for k, v in headers.items()}
        found = _AUTH.match(lowered.get("authorization", ""))
        if not found:
            raise Forbidden("no SigV4 Authorization header")
        parts = found["credential"].split("/")
        if len(parts) != 5 or parts[4] != "aws4_request":
            raise Forbidden("malformed credential scope")
        access_key, day, region, service, _ = parts
        if not hmac.compare_digest(access_key, self.access_key):
            raise Forbidden("unknown access key")
        if region != self.region or service != SERVICE:
            raise Forbidden(f"scope {region}/{service}, expected {self.region}/{SERVICE}")
        stamp = lowered.get("x-amz-date", "")
        try:
            signed_at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise Forbidden("no valid X-Amz-Date") from None
        if abs((now or datetime.now(UTC)) - signed_at) > MAX_SKEW:
            raise Forbidden("signature expired (X-Amz-Date more than 5 minutes away)")
        if day != stamp[:8]:
            raise Forbidden("credential date differs from X-Amz-Date")
        signed = found["signed"].split(";")
        if "host" not in signed or any(name not in lowered for name in signed):
            raise Forbidden("signed headers must include host and be present")
        payload_hash = hashlib.sha256(body or b"").hexdigest()
        declared = lowered.get("x-amz-content-sha256")
        if declared is not None and not hmac.compare_digest(declared, payload_hash):
            raise Forbidden("x-amz-content-sha256 is not the body's SHA-256")
        canonical = canonical_query(query)
        request = AWSRequest(
            method=method,
            url=f"http://{lowered['host']}{path}" + (f"?{canonical}" if canonical else ""),
            headers={name: lowered[name] for name in signed},
            data=body or b"",
        )
        request.context["timestamp"] = stamp
        signer = _Recompute(Credentials(self.access_key, self.secret_key), self.region, signed)
        string_to_sign = signer.string_to_sign(request, signer.canonical_request(request))
        expected = signer.signature(string_to_sign, request)
        if not hmac.compare_digest(expected, found["signature"]):
            raise Forbidden("signature does not match")
        return Identity(access_key, self.account_id)


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    credentials: Any,
    region: str,
) -> dict[str, str]:
    """The headers to send: `headers` plus X-Amz-Date, Authorization (and the session
    token), signed by botocore for execute-api. `credentials` is botocore's (any
    provider: env, profile, SSO) or anything with access_key / secret_key / token."""
    request = AWSRequest(method=method, url=url, headers=dict(headers), data=body or b"")
    SigV4Auth(credentials, SERVICE, region).add_auth(request)
    return dict(request.headers.items())
