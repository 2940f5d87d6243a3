"""The console's submit form: fields from a task's schema, and the form read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from overlord_local.ui import forms

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts" / "tasks"


def _schema(task: str) -> dict:
    return json.loads((CONTRACTS / f"{task}.json").read_text())["parameters"]


def test_each_property_becomes_a_field_of_its_type():
    found = {f.name: f for f in forms.fields_of(_schema("fail"))}
    assert found["exit_code"].kind == "integer" and found["exit_code"].default == 1
    assert found["message"].kind == "string" and not found["message"].required
    sleep = forms.fields_of(_schema("sleep"))
    assert [(f.name, f.kind, f.required) for f in sleep] == [("seconds", "number", True)]


def test_the_form_is_read_back_in_the_schemas_types_and_empty_optionals_left_out():
    fields = forms.fields_of(_schema("fail"))
    form = {"p.exit_code": "3", "p.message": "", "p.succeed_on_attempt": ""}
    assert forms.parameters_from(fields, form) == {"exit_code": 3}
    sleep = forms.fields_of(_schema("sleep"))
    assert forms.parameters_from(sleep, {"p.seconds": "1.5"}) == {"seconds": 1.5}
    assert forms.parameters_from(sleep, {"p.seconds": "2"}) == {"seconds": 2}


def test_a_value_of_the_wrong_type_names_its_field():
    fields = forms.fields_of(_schema("fail"))
    with pytest.raises(forms.FormError) as caught:
        forms.parameters_from(fields, {"p.exit_code": "two"})
    assert caught.value.errors == [("parameters.exit_code", "'two' is not an integer")]


def test_enum_boolean_and_json_fields():
    schema = {
        "type": "object",
        "properties": {
            "level": {"enum": ["info", "warning"]},
            "loud": {"type": "boolean"},
            "extra": {"type": "object"},
        },
    }
    fields = forms.fields_of(schema)
    assert [f.kind for f in fields] == ["enum", "boolean", "json"]
    form = {"p.level": "warning", "p.loud": "on", "p.extra": '{"a": 1}'}
    assert forms.parameters_from(fields, form) == {
        "level": "warning",
        "loud": True,
        "extra": {"a": 1},
    }


def test_tags_are_key_value_lines():
    assert forms.tags_from("team=data\nowner = me, x=") == {"team": "data", "owner": "me", "x": ""}
    with pytest.raises(forms.FormError):
        forms.tags_from("no-equals")
