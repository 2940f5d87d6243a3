import json
import unicodedata

import pytest

from overlord.domain.identity import JOB_ID_PATTERN, NotCanonicalizable, job_id_for


def test_job_id_shape_has_at_least_96_bits():
    job_id = job_id_for("echo", {"message": "hi"})
    assert JOB_ID_PATTERN.match(job_id)
    assert (len(job_id) - len("job-")) * 4 >= 96


def test_key_order_does_not_change_the_id():
    a = job_id_for("echo", {"a": 1, "b": {"x": [1, 2], "y": "z"}})
    b = job_id_for("echo", {"b": {"y": "z", "x": [1, 2]}, "a": 1})
    assert a == b


@pytest.mark.parametrize("number", ["1", "1.0", "1e0", "10e-1", "1.00000"])
def test_number_spelling_does_not_change_the_id(number):
    parsed = json.loads(f'{{"n": {number}}}')
    assert job_id_for("t", parsed) == job_id_for("t", {"n": 1})


def test_different_values_task_or_key_give_different_ids():
    base = job_id_for("echo", {"message": "hi"})
    assert job_id_for("echo", {"message": "hi!"}) != base
    assert job_id_for("sleep", {"message": "hi"}) != base
    assert job_id_for("echo", {"message": "hi"}, key="k1") != base
    assert job_id_for("echo", {"message": "hi"}, key="k1") == job_id_for(
        "echo", {"message": "hi"}, key="k1"
    )


def test_list_order_matters():
    assert job_id_for("t", {"l": [1, 2]}) != job_id_for("t", {"l": [2, 1]})


def test_unicode_is_not_normalised():
    """Documented choice: the code points the client sent are what is hashed."""
    nfc = unicodedata.normalize("NFC", "café")
    nfd = unicodedata.normalize("NFD", "café")
    assert nfc != nfd
    assert job_id_for("t", {"s": nfc}) != job_id_for("t", {"s": nfd})
    assert job_id_for("t", {"s": nfc}) == job_id_for("t", {"s": "caf\u00e9"})


def test_known_vector_is_stable():
    """Pinned so that a library or code change cannot silently re-key every job."""
    assert (
        job_id_for("echo", {"message": "hello"})
        == "job-"
        + (
            __import__("hashlib")
            .sha256(b'{"parameters":{"message":"hello"},"task":"echo"}')
            .hexdigest()[:32]
        )
    )


@pytest.mark.parametrize("value", [2**60, float("nan"), float("inf")])
def test_values_without_canonical_form_are_refused(value):
    with pytest.raises(NotCanonicalizable):
        job_id_for("t", {"v": value})


@pytest.mark.parametrize("key", [None, "k", "ключ", 'q"uote'])
@pytest.mark.parametrize(
    "parameters", [{}, {"message": "hi"}, {"b": [1, 2.5, None], "a": {"é": True}}]
)
def test_id_from_canonical_parameters_equals_the_id_of_the_whole_document(key, parameters):
    from overlord.domain.identity import canonical_json, job_id_from_canonical

    assert job_id_from_canonical("echo", canonical_json(parameters), key) == job_id_for(
        "echo", parameters, key
    )


ITEMS = [{"message": "a"}, {"b": [1, 2.5], "a": {"é": True}}]


@pytest.mark.parametrize("key", [None, "k"])
def test_id_from_canonical_items_equals_the_id_of_the_whole_document(key):
    from overlord.domain.identity import canonical_json, job_id_from_canonical

    canonical = canonical_json(ITEMS)
    assert job_id_from_canonical("echo", canonical, key, field="items") == job_id_for(
        "echo", key=key, items=ITEMS
    )


def test_items_identity_is_the_list_in_order_and_differs_from_parameters():
    assert job_id_for("echo", items=ITEMS) == job_id_for(
        "echo", items=json.loads(json.dumps(ITEMS))
    )
    assert job_id_for("echo", items=ITEMS) != job_id_for("echo", items=ITEMS[::-1])
    # One item's parameters as a job of its own is a different input from a list holding it.
    assert job_id_for("echo", ITEMS[0]) != job_id_for("echo", items=ITEMS[:1])


def test_known_items_vector_is_stable():
    import hashlib

    expected = hashlib.sha256(b'{"items":[{"message":"a"},{"message":"b"}],"task":"echo"}')
    assert job_id_for("echo", items=[{"message": "a"}, {"message": "b"}]) == (
        "job-" + expected.hexdigest()[:32]
    )
