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


def identity_document(
    task: str,
    parameters: dict[str, Any] | None,
    key: str | None,
    items: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What a job's ID is the hash of: the task with its parameters, or with its items (an
    array job: the whole list, in order), plus the client's key when there is one."""
    doc: dict[str, Any] = {"task": task}
    if items is not None:
        doc["items"] = items
    else:
        doc["parameters"] = parameters
    if key is not None:
        doc["key"] = key
    return doc


def job_id_for(
    task: str,
    parameters: dict[str, Any] | None = None,
    key: str | None = None,
    *,
    items: list[dict[str, Any]] | None = None,
) -> str:
    document = identity_document(task, parameters, key, items)
    digest = hashlib.sha256(canonical_json(document)).hexdigest()
    return JOB_ID_PREFIX + digest[:JOB_ID_HEX_DIGITS]


def canonical_list(canonical_elements: list[bytes]) -> bytes:
    """RFC 8785's form of a list whose elements are already in canonical form."""
    return b"[" + b",".join(canonical_elements) + b"]"


def job_id_from_canonical(
    task: str, canonical_input: bytes, key: str | None = None, *, field: str = "parameters"
) -> str:
    """`job_id_for`, given the input (`field`: "parameters" or "items") already in canonical
    form: it is the bulk of the request, so a request canonicalises it once. RFC 8785
    orders members by name ("items" < "key" < "parameters" < "task"; all ASCII, so UTF-16
    order is byte order)."""
    members = {field: canonical_input, "task": canonical_json(task)}
    if key is not None:
        members["key"] = canonical_json(key)
    body = b",".join(b'"' + name.encode() + b'":' + members[name] for name in sorted(members))
    digest = hashlib.sha256(b"{" + body + b"}").hexdigest()
    return JOB_ID_PREFIX + digest[:JOB_ID_HEX_DIGITS]


def is_job_id(value: str) -> bool:
    return bool(JOB_ID_PATTERN.match(value))
