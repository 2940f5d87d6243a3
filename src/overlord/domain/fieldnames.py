"""Reversible escaping of user field names before they reach MongoDB.

Parameters are stored as documents (so they stay queryable), but a key that starts
with ``$``, contains ``.`` or a NUL would be read by MongoDB as an operator, a path
or be refused. We percent-encode exactly those characters (and ``%`` itself, so the
mapping is reversible): ``a.b`` → ``a%2Eb``, ``$gt`` → ``%24gt``. Keys without them
are stored unchanged.
"""

from __future__ import annotations

import re
from typing import Any

_ESCAPE = re.compile(r"%|\.|\x00|^\$")
_UNESCAPE = re.compile(r"%(25|2E|00|24)")
_CODES = {"%": "%25", ".": "%2E", "\x00": "%00", "$": "%24"}
_CHARS = {v[1:]: k for k, v in _CODES.items()}


def escape_key(key: str) -> str:
    return _ESCAPE.sub(lambda m: _CODES[m.group(0)], key)


def unescape_key(key: str) -> str:
    return _UNESCAPE.sub(lambda m: _CHARS[m.group(1)], key)


def escape_document(value: Any) -> Any:
    if isinstance(value, dict):
        return {escape_key(k): escape_document(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape_document(v) for v in value]
    return value


def unescape_document(value: Any) -> Any:
    if isinstance(value, dict):
        return {unescape_key(k): unescape_document(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unescape_document(v) for v in value]
    return value
