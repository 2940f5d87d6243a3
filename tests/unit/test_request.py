import json

import pytest

from overlord.errors import InvalidRequest
from overlord.request import MAX_BODY_BYTES, parse_job_request


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


def test_oversized_body_is_413():
    with pytest.raises(InvalidRequest) as caught:
        parse_job_request(b" " * (MAX_BODY_BYTES + 1))
    assert caught.value.too_large and str(caught.value).startswith("body:")


def test_dollar_and_dotted_keys_are_accepted():
    r = parse_job_request(body(parameters={"$where": 1, "a.b": {"$gt": 2}}))
    assert r.parameters == {"$where": 1, "a.b": {"$gt": 2}}
