"""The offsets object: where each item of an array job's list lies in the list's object.

An array job's items that do not fit the container's environment go to S3 as one JSON
list (`bucket_layout.parameters_key`), which image tasks and people read whole. Beside
it the submitter stores this index (`bucket_layout.item_offsets_key`), so that a child
reads only its own item: one ranged GET of its entry, one of the item's bytes, instead
of the whole list (4 MB at 10,000 items of 400 bytes, for each child).

The layout is fixed-width binary, one 16-byte entry per item in list order: the item's
first byte in the list object and its length in bytes, each an unsigned 64-bit
big-endian integer. Entry i is bytes ``16 * i`` to ``16 * i + 15``.
"""

from __future__ import annotations

import json
import struct

ENTRY = struct.Struct(">QQ")
ENTRY_SIZE = ENTRY.size  # 16

_decoder = json.JSONDecoder()


class NotAList(ValueError):
    """The text is not a JSON list in the compact form the offsets are taken from."""

    def __init__(self, why: str) -> None:
        super().__init__(f"not a JSON list without whitespace: {why}")


def item_offsets(list_json: str) -> bytes:
    """The entries of the items of `list_json` (a JSON list without whitespace between its
    elements, as canonical JSON is) as the UTF-8 bytes the object holds.

    Computed from the text written, not from a second serialisation, so that the spans
    are exactly those bytes whatever produced them. Raises NotAList for any other text.
    """
    if list_json == "[]":
        return b""
    if not list_json.startswith("["):
        raise NotAList("it does not start with [")
    entries = bytearray()
    position, offset = 1, 1  # in characters of the text, in bytes of its UTF-8
    while True:
        try:
            _, end = _decoder.raw_decode(list_json, position)
        except ValueError as exc:
            raise NotAList(str(exc)) from None
        length = len(list_json[position:end].encode())
        entries += ENTRY.pack(offset, length)
        separator = list_json[end : end + 1]
        position, offset = end + 1, offset + length + 1
        if separator == "]":
            break
        if separator != ",":
            raise NotAList(f"{separator!r} after an element at character {end}")
    if position != len(list_json):
        raise NotAList(f"text after the list at character {position}")
    return bytes(entries)


def entry_start(index: int) -> int:
    """Where item `index`'s entry starts in the offsets object."""
    return index * ENTRY_SIZE


def read_entry(entry: bytes) -> tuple[int, int]:
    """(start, length) in the list object of the item whose `entry` this is."""
    start, length = ENTRY.unpack(entry)
    return int(start), int(length)
