"""CloudWatch Logs: read a job attempt's stream from the head, within caps."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import ClientError

from overlord.adapters.aws import client
from overlord.observation import from_epoch_ms


@dataclass(frozen=True)
class LogLine:
    ts: datetime
    message: str


@dataclass(frozen=True)
class StreamRead:
    lines: list[LogLine]
    truncated: bool
    bytes_read: int


class LogReader:
    def __init__(self, log_group: str) -> None:
        self.log_group = log_group

    def _events(self, stream: str) -> Iterator[dict]:
        logs = client("logs")
        token: str | None = None
        while True:
            kwargs = {
                "logGroupName": self.log_group,
                "logStreamName": stream,
                "startFromHead": True,
            }
            if token:
                kwargs["nextToken"] = token
            page = logs.get_log_events(**kwargs)
            yield from page["events"]
            # The forward token repeats once the end of the stream is reached.
            if not page["events"] or page.get("nextForwardToken") in (None, token):
                return
            token = page["nextForwardToken"]

    def read(self, stream: str, max_lines: int, max_bytes: int) -> StreamRead:
        lines: list[LogLine] = []
        size = 0
        try:
            for event in self._events(stream):
                message = event.get("message", "")
                encoded = len(message.encode())
                if len(lines) >= max_lines or size + encoded > max_bytes:
                    return StreamRead(lines, True, size)
                lines.append(LogLine(from_epoch_ms(event["timestamp"]), message))  # type: ignore[arg-type]
                size += encoded
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
        return StreamRead(lines, False, size)
