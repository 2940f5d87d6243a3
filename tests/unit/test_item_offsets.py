"""The offsets object of an array job's items (overlord.domain.item_offsets) and its variable."""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest

from overlord.domain.identity import canonical_json
from overlord.domain.item_offsets import (
    ENTRY_SIZE,
    NotAList,
    entry_start,
    item_offsets,
    read_entry,
)
from overlord.domain.request import validate_job_request
from overlord.domain.schema import new_items
from overlord.domain.submission import items_json
from overlord_contracts.worker_env import ITEMS_OFFSETS_URI, WorkerEnvironment, job_environment

# Characters of one to four UTF-8 bytes, characters RFC 8785 escapes (control characters,
# quotes, backslashes) and ones it does not (U+2028), strings holding the list's own
# separators, numbers in ECMAScript form, members to be reordered, nesting, field names
# the store escapes.
ITEMS: list[dict[str, Any]] = [
    {"message": "plain"},
    {"message": 'é ☃ 𝄞 },{ ["]\\', "z": 1.0, "a": [1e21, -0.0, 1e-7]},
    {"message": "\u2028\u2029\x00\x1f\t\n", "nested": {"b": {"c": [{"d": "},{"}]}, "a": None}},
    {"message": "", "flag": True, "n": 9007199254740991},
    {"message": "中文 עִבְרִית العربية 😀"},
    {"$where": "1", "a.b": {"$gt": "."}},  # stored escaped (overlord.domain.fieldnames)
]


def spans(text: str) -> list[bytes]:
    data, offsets = text.encode(), item_offsets(text)
    assert len(offsets) % ENTRY_SIZE == 0
    found = []
    for i in range(len(offsets) // ENTRY_SIZE):
        start, length = read_entry(offsets[entry_start(i) : entry_start(i) + ENTRY_SIZE])
        found.append(data[start : start + length])
    return found


def test_each_span_is_its_items_canonical_json_and_they_make_the_list_byte_for_byte():
    text = items_json(new_items(validate_job_request({"task": "echo", "items": ITEMS})))
    parts = [canonical_json(item) for item in ITEMS]
    assert b"[" + b",".join(parts) + b"]" == text.encode()
    assert spans(text) == parts
    assert [json.loads(span) for span in spans(text)] == ITEMS


def test_a_requests_list_has_the_same_spans_as_the_stored_one():
    """The submitter gets the list from the request (built from each item's canonical
    JSON) or, for a re-run, from the stored items: both are the same bytes."""
    request = validate_job_request({"task": "echo", "items": ITEMS})
    stored = items_json(new_items(request))
    assert request.input_json == stored
    assert item_offsets(request.input_json) == item_offsets(stored)


def test_an_entry_is_two_big_endian_64_bit_integers():
    text = '[{"a":"é"},{"b":2}]'
    offsets = item_offsets(text)
    assert offsets == struct.pack(">QQQQ", 1, 10, 12, 7)
    assert read_entry(offsets[16:]) == (12, 7)
    assert entry_start(3) == 48 and ENTRY_SIZE == 16


def test_an_empty_list_has_no_entries():
    assert item_offsets("[]") == b""


@pytest.mark.parametrize(
    "text",
    ['{"a":1}', '[{"a":1}, {"b":2}]', '[{"a":1},{"b":2}', '[{"a":1}]x', "[ ]", ""],
)
def test_other_text_is_refused(text):
    with pytest.raises(NotAList, match=r"^not a JSON list without whitespace: "):
        item_offsets(text)


def test_the_offsets_uri_goes_with_the_items_uri_only():
    env = job_environment("job-1", "echo", items_uri="s3://b/l.json", items_offsets_uri="s3://b/o")
    assert env[ITEMS_OFFSETS_URI] == "s3://b/o"
    assert WorkerEnvironment.from_env(env).items_offsets_uri == "s3://b/o"
    assert WorkerEnvironment.from_env({**env, ITEMS_OFFSETS_URI: ""}).items_offsets_uri is None
    assert ITEMS_OFFSETS_URI not in job_environment("job-1", "echo", items_uri="s3://b/l.json")
    with pytest.raises(ValueError, match="offsets go with the items' URI"):
        job_environment("job-1", "echo", items="[{}]", items_offsets_uri="s3://b/o")
