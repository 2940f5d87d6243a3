"""Count the GetObject calls a boto3 client sends, and the bytes that come back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Gets:
    ranges: list[str | None] = field(default_factory=list)  # each call's Range, if any
    sizes: list[int] = field(default_factory=list)  # each answer's ContentLength

    @property
    def bytes(self) -> int:
        return sum(self.sizes)


@contextmanager
def counting_gets(s3_client: Any) -> Iterator[Gets]:
    """The GetObject calls `s3_client` makes inside the block (botocore's event hooks)."""
    gets = Gets()

    def before(params: dict[str, Any], **_: Any) -> None:
        gets.ranges.append(params.get("Range"))

    def after(parsed: dict[str, Any], **_: Any) -> None:
        gets.sizes.append(int(parsed.get("ContentLength", 0)))

    events = s3_client.meta.events
    events.register("provide-client-params.s3.GetObject", before)
    events.register("after-call.s3.GetObject", after)
    try:
        yield gets
    finally:
        events.unregister("provide-client-params.s3.GetObject", before)
        events.unregister("after-call.s3.GetObject", after)
