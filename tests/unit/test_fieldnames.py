import pytest

from overlord.domain.fieldnames import escape_document, escape_key, unescape_document, unescape_key


@pytest.mark.parametrize(
    ("key", "escaped"),
    [
        ("plain", "plain"),
        ("a.b", "a%2Eb"),
        ("$gt", "%24gt"),
        ("a$b", "a$b"),
        ("50%", "50%25"),
        ("%2E", "%252E"),
        ("nul\x00", "nul%00"),
    ],
)
def test_escape_round_trip(key, escaped):
    assert escape_key(key) == escaped
    assert unescape_key(escaped) == key


def test_documents_are_escaped_at_every_depth():
    doc = {"$set": {"a.b": [{"$x": 1}]}, "ok": "a.b"}
    escaped = escape_document(doc)
    assert escaped == {"%24set": {"a%2Eb": [{"%24x": 1}]}, "ok": "a.b"}
    assert unescape_document(escaped) == doc
