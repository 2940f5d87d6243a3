"""S3: large parameters going to the worker, result summaries coming back."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from overlord.adapters.aws import client
from overlord.domain.errors import ObjectStoreUnavailable
from overlord.ports import CappedObject
from overlord_contracts.bucket_layout import parse_s3_uri

# A missing object: 404 with s3:ListBucket granted; without it S3 answers 403.
_MISSING = {"404", "NoSuchKey", "NotFound"}


class ObjectStore:
    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def put_text(self, key: str, text: str, content_type: str = "application/json") -> str:
        """Raises ObjectStoreUnavailable once botocore's own retries are spent."""
        return self.put_bytes(key, text.encode(), content_type)

    def put_bytes(
        self, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> str:
        """Raises ObjectStoreUnavailable once botocore's own retries are spent."""
        try:
            client("s3").put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise ObjectStoreUnavailable(f"S3 refused to store {self.uri(key)} ({code})") from None
        except BotoCoreError as exc:
            # Endpoint and connection errors name only the endpoint URL, never credentials.
            raise ObjectStoreUnavailable(
                f"S3 unreachable storing {self.uri(key)} ({type(exc).__name__})"
            ) from None
        return self.uri(key)

    def get_text(self, uri: str) -> str:
        """The UTF-8 text of the object at an ``s3://bucket/key`` URI, in any bucket."""
        bucket, key = parse_s3_uri(uri)
        body: bytes = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        return body.decode()

    def get_range(self, uri: str, start: int, length: int) -> bytes:
        """Up to `length` bytes of the object at an ``s3://bucket/key`` URI from byte
        `start` (one ranged GetObject): fewer where the object ends first, none from
        beyond its end."""
        if start < 0 or length < 1:
            raise ValueError(f"not a byte range: {length} bytes from {start}")
        bucket, key = parse_s3_uri(uri)
        try:
            response = client("s3").get_object(
                Bucket=bucket, Key=key, Range=f"bytes={start}-{start + length - 1}"
            )
        except ClientError as exc:
            # S3 answers 416 for a range that starts at or beyond the end (or any range
            # of an empty object).
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return b""
            raise
        body: bytes = response["Body"].read()
        if "ContentRange" not in response:
            # A whole object (a store that ignores Range): the range is still the answer.
            return body[start : start + length]
        return body

    def get_capped(self, key: str, cap: int) -> CappedObject | None:
        """The object's bytes if it is at most `cap` long; None when it does not exist."""
        s3 = client("s3")
        try:
            head = s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise
        size = int(head["ContentLength"])
        if size > cap:
            return CappedObject(self.uri(key), size, None)
        body = s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return CappedObject(self.uri(key), size, body)
