"""The S3 adapter's binary writes and ranged reads, against moto server over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from overlord.adapters.aws import client
from overlord.adapters.s3 import ObjectStore
from tests.conftest import RESULTS_BUCKET
from tests.support.s3gets import Gets, counting_gets

DATA = bytes(range(256)) * 4  # 1,024 bytes, every byte value


@pytest.fixture
def store(moto_endpoint: str) -> ObjectStore:
    return ObjectStore(RESULTS_BUCKET)


@pytest.fixture
def gets(store: ObjectStore) -> Iterator[Gets]:
    with counting_gets(client("s3")) as seen:
        yield seen


def key() -> str:
    return f"params/{uuid.uuid4().hex}.offsets"


def test_put_bytes_stores_them_as_given(store, aws):
    k = key()
    assert store.put_bytes(k, DATA) == f"s3://{RESULTS_BUCKET}/{k}"
    got = aws.s3.get_object(Bucket=RESULTS_BUCKET, Key=k)
    assert got["Body"].read() == DATA
    assert got["ContentType"] == "application/octet-stream"


def test_a_ranged_read_is_one_get_of_those_bytes_only(store, gets):
    uri = store.put_bytes(key(), DATA)
    assert store.get_range(uri, 300, 16) == DATA[300:316]
    assert gets.ranges == ["bytes=300-315"] and gets.sizes == [16]


@pytest.mark.parametrize(
    ("start", "length", "expected"),
    [
        (0, 1, DATA[:1]),
        (0, len(DATA), DATA),
        (1000, 100, DATA[1000:]),  # the object ends first
        (len(DATA) - 1, 1, DATA[-1:]),
        (len(DATA), 16, b""),  # S3's 416: the range starts at the end
        (10**12, 16, b""),
    ],
)
def test_a_range_past_the_end_gives_what_there_is(store, start, length, expected):
    uri = store.put_bytes(key(), DATA)
    assert store.get_range(uri, start, length) == expected


def test_any_range_of_an_empty_object_is_empty(store):
    assert store.get_range(store.put_bytes(key(), b""), 0, 16) == b""


def test_a_ranged_read_of_text_gives_its_utf8_bytes(store):
    text = '[{"m":"é☃𝄞"},{"m":"x"}]'
    uri = store.put_text(f"params/{uuid.uuid4().hex}.json", text)
    assert store.get_range(uri, 1, len('{"m":"é☃𝄞"}'.encode())) == '{"m":"é☃𝄞"}'.encode()


def test_a_missing_object_is_an_error_not_an_empty_range(store):
    with pytest.raises(ClientError) as caught:
        store.get_range(f"s3://{RESULTS_BUCKET}/{key()}", 0, 16)
    assert caught.value.response["Error"]["Code"] == "NoSuchKey"


@pytest.mark.parametrize(("start", "length"), [(-1, 16), (0, 0), (5, -3)])
def test_a_range_that_is_none_is_refused_before_any_call(store, gets, start, length):
    with pytest.raises(ValueError, match="not a byte range"):
        store.get_range(f"s3://{RESULTS_BUCKET}/{key()}", start, length)
    assert gets.ranges == []
