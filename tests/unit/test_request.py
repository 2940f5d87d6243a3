import json

import pytest

from overlord.domain.errors import InvalidRequest
from overlord.domain.request import MAX_ARRAY_BODY_BYTES, MAX_BODY_BYTES, parse_job_request


def body(**fields):
    return json.dumps({"task": "echo", "parameters": {"message": "hi"}, **fields})


def test_valid_request_with_defaults():
    r = parse_job_request(body())
    assert (r.task, r.attempts, r.timeout_seconds, r.key, r.tags) == ("echo", None, None, None, {})


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("{", "body: invalid JSON"),
        ("", "body: a JSON object is required"),
        ("[1]", "body: must be a JSON object"),
        ('{"parameters": {}}', "task: Field required"),
        ('{"task": "Echo"}', "task: String should match pattern"),
        ('{"task": 7}', "task:"),
        ('{"task": "-x"}', "task:"),
        ('{"task": "' + "a" * 65 + '"}', "task:"),
        ('{"task": "echo", "parameters": [1]}', "parameters:"),
        ('{"task": "echo", "parameters": "x"}', "parameters:"),
        ('{"task": "echo", "parameters": {"n": NaN}}', "body: invalid JSON"),
        ('{"task": "echo", "parameters": {"n": 123456789012345678901}}', "parameters: not rep"),
        ('{"task": "echo", "attempts": 0}', "attempts:"),
        ('{"task": "echo", "attempts": 11}', "attempts:"),
        ('{"task": "echo", "attempts": "2"}', "attempts:"),
        ('{"task": "echo", "timeout_seconds": 59}', "timeout_seconds:"),
        ('{"task": "echo", "tags": {"aws:x": "1"}}', "tags:"),
        ('{"task": "echo", "tags": {"k": 1}}', "tags.k:"),
        ('{"task": "echo", "colour": "red"}', "colour: Extra inputs are not permitted"),
        ('{"task": "echo", "key": ""}', "key:"),
    ],
)
def test_bad_input_names_the_field(raw, field):
    with pytest.raises(InvalidRequest) as caught:
        parse_job_request(raw)
    assert field in str(caught.value)
    assert not caught.value.too_large


def test_too_many_tags():
    with pytest.raises(InvalidRequest, match="tags: at most 50"):
        parse_job_request(body(tags={f"k{i}": "v" for i in range(51)}))


def test_oversized_parameters_are_413_naming_parameters():
    with pytest.raises(InvalidRequest) as caught:
        parse_job_request(body(parameters={"blob": "x" * (65 * 1024)}))
    assert caught.value.too_large and str(caught.value).startswith("parameters:")


@pytest.mark.parametrize(
    "raw",
    [
        # A single job's body over 256 KiB, blank or not: only an array request may be larger.
        b'{"task": "echo"}' + b" " * MAX_BODY_BYTES,
        json.dumps({"task": "echo", "parameters": {"m": "x" * MAX_BODY_BYTES}}).encode(),
        # Nothing may exceed the array limit, whatever it holds.
        json.dumps({"task": "echo", "items": [{"m": "x"}] * 2, "p": " " * MAX_ARRAY_BODY_BYTES}),
    ],
)
def test_oversized_body_is_413(raw):
    with pytest.raises(InvalidRequest) as caught:
        parse_job_request(raw)
    assert caught.value.too_large and str(caught.value).startswith("body:")


def test_dollar_and_dotted_keys_are_accepted():
    r = parse_job_request(body(parameters={"$where": 1, "a.b": {"$gt": 2}}))
    assert r.parameters == {"$where": 1, "a.b": {"$gt": 2}}


# ------------------------------------------------------------------ array requests


def items_body(items, **fields):
    return json.dumps({"task": "echo", "items": items, **fields})


def test_an_array_request_keeps_its_items_and_has_no_parameters():
    r = parse_job_request(items_body([{"message": "a"}, {"message": "b"}]))
    assert r.is_array and r.items == [{"message": "a"}, {"message": "b"}]
    assert r.input_json == '[{"message":"a"},{"message":"b"}]'


@pytest.mark.parametrize(
    ("raw", "start"),
    [
        (items_body([{"message": "a"}]), "items: 1 item(s); an array job has 2 to 10000"),
        (items_body([]), "items: 0 item(s)"),
        (items_body([{"message": "a"}] * 10_001), "items: 10001 items, more than"),
        (items_body([{"m": 1}, 2]), "items[1]: Input should be a valid dictionary"),
        (items_body({"0": {}}), "items: Input should be a valid list"),
        (items_body([{"a": 1}, {"a": 2}], parameters={}), "items: send either parameters"),
        (items_body([{"n": 1}, {"n": 2**60}]), "items[1]: not representable"),
    ],
)
def test_bad_items_name_the_item(raw, start):
    with pytest.raises(InvalidRequest) as caught:
        parse_job_request(raw)
    assert str(caught.value).startswith(start), str(caught.value)
    assert not caught.value.too_large


def test_an_item_over_the_parameters_limit_is_413_naming_it():
    with pytest.raises(InvalidRequest) as caught:
        parse_job_request(items_body([{"m": "x"}, {"m": "x" * (65 * 1024)}]))
    assert caught.value.too_large and str(caught.value).startswith("items[1]: ")


def test_items_too_deep_name_the_item():
    deep: dict = {}
    node = deep
    for _ in range(40):
        node["x"] = {}
        node = node["x"]
    with pytest.raises(InvalidRequest, match=r"^items: \[1\] is nested deeper"):
        parse_job_request(items_body([{}, deep]))


def test_ten_thousand_small_items_fit_an_array_body_but_not_a_single_jobs():
    items = [{"message": f"item number {i:05}"} for i in range(10_000)]
    raw = items_body(items)
    assert MAX_BODY_BYTES < len(raw) < MAX_ARRAY_BODY_BYTES
    assert len(parse_job_request(raw).items or []) == 10_000
