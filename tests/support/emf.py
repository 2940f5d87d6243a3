"""CloudWatch embedded metric format (EMF): checking documents against the specification,
and recording every document the product writes while the tests run.

`problems(doc)` validates a document with tests/support/emf.schema.json (written from
AWS's specification) and checks what JSON Schema cannot: the root holds every member
the directives reference (each dimension's string value, each metric's number or list
of at most 100 numbers).

`install(path)` wraps Powertools' EMF serializer (what its `flush_metrics` prints), so
each document the product emits in this process is appended to `path` as one JSON
line; tests/infra/test_metric_coverage.py reads them back.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SCHEMA_PATH = Path(__file__).with_name("emf.schema.json")
ENV_VAR = "TEST_EMF_LOG"
_lock = threading.Lock()
_installed: dict[str, Any] = {}


@cache
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def problems(doc: Any) -> list[str]:
    found = [f"{list(e.absolute_path)}: {e.message}" for e in validator().iter_errors(doc)]
    if found:
        return found
    value_check = Draft202012Validator({"$ref": "#/$defs/MetricValue", **_defs()})
    for directive in doc["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            for key in dimension_set:
                if not isinstance(doc.get(key), str):
                    found.append(f"dimension {key!r}: no string member at the root")
        for metric in directive["Metrics"]:
            name = metric["Name"]
            if name not in doc:
                found.append(f"metric {name!r}: no member at the root")
            elif not value_check.is_valid(doc[name]):
                found.append(f"metric {name!r}: {doc[name]!r} is not a number or numbers")
    return found


def _defs() -> dict[str, Any]:
    return {"$defs": json.loads(SCHEMA_PATH.read_text())["$defs"]}


def documents(lines: Iterable[str]) -> list[dict[str, Any]]:
    """The EMF documents among printed lines (JSON objects with an `_aws` member)."""
    found = []
    for line in lines:
        text = line.strip()
        if not text.startswith("{") or '"_aws"' not in text:
            continue
        try:
            doc = json.loads(text)
        except ValueError:
            continue
        if isinstance(doc, dict) and "_aws" in doc:
            found.append(doc)
    return found


def metric_names(docs: Iterable[dict[str, Any]]) -> set[str]:
    return {
        metric["Name"]
        for doc in docs
        for directive in doc["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }


def install(path: str | Path) -> None:
    """Append every EMF document Powertools serializes in this process to `path`."""
    _installed["path"] = str(path)
    if "original" in _installed:
        return
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
        AmazonCloudWatchEMFProvider,
    )

    original = AmazonCloudWatchEMFProvider.serialize_metric_set
    _installed["original"] = original

    def serialize_metric_set(self: Any, *args: Any, **kwargs: Any) -> Any:
        doc = original(self, *args, **kwargs)
        with _lock, open(_installed["path"], "a", encoding="utf-8") as out:
            out.write(json.dumps(doc) + "\n")
        return doc

    AmazonCloudWatchEMFProvider.serialize_metric_set = serialize_metric_set  # type: ignore[method-assign]


def read(path: str | Path) -> list[dict[str, Any]]:
    p = Path(path)
    if not p.is_file():
        return []
    return documents(p.read_text(encoding="utf-8").splitlines())
