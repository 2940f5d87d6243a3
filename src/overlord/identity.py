"""Job identity (docs/design.md, "Identity"): a hash of the RFC 8785 canonical JSON of the input.

Strings are hashed as the code points the client sent: no Unicode normalisation,
so "é" (U+00E9) and "e" + U+0301 are different inputs. Numbers follow RFC 8785
(ECMAScript formatting): 1, 1.0 and 1e0 are the same number. Integers beyond
±2**53 and NaN/Infinity have no canonical form and are refused.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import rfc8785

JOB_ID_PREFIX = "job-"
JOB_ID_HEX_DIGITS = 32  # 128 bits: collisions negligible at any realistic job count
JOB_ID_PATTERN = re.compile(rf"^{JOB_ID_PREFIX}[0-9a-f]{{{JOB_ID_HEX_DIGITS}}}$")


class NotCanonicalizable(ValueError):
    """The input holds a value that RFC 8785 cannot represent."""


def canonical_json(value: Any) -> bytes:
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:
        raise NotCanonicalizable(str(exc)) from exc


def identity_document(task: str, parameters: dict[str, Any], key: str | None) -> dict[str, Any]:
    doc: dict[str, Any] = {"task": task, "parameters": parameters}
    if key is not None:
        doc["key"] = key
    return doc


def job_id_for(task: str, parameters: dict[str, Any], key: str | None = None) -> str:
    digest = hashlib.sha256(canonical_json(identity_document(task, parameters, key))).hexdigest()
    return JOB_ID_PREFIX + digest[:JOB_ID_HEX_DIGITS]


def job_id_from_canonical(task: str, canonical_parameters: bytes, key: str | None = None) -> str:
    """`job_id_for`, given the parameters already in canonical form (they are the bulk of
    the input, so a request canonicalises them once). RFC 8785 orders members by key:
    "key" < "parameters" < "task"."""
    parts = [b'{"key":', canonical_json(key), b","] if key is not None else [b"{"]
    parts += [b'"parameters":', canonical_parameters, b',"task":', canonical_json(task), b"}"]
    digest = hashlib.sha256(b"".join(parts)).hexdigest()
    return JOB_ID_PREFIX + digest[:JOB_ID_HEX_DIGITS]


def is_job_id(value: str) -> bool:
    return bool(JOB_ID_PATTERN.match(value))
