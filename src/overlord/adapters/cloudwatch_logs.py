"""CloudWatch Logs: read a job attempt's stream from the head, within caps."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from overlord.adapters.aws import client
from overlord.domain.observation import from_epoch_ms
from overlord.ports import LogLine, StreamRead

# GetLogEvents may answer empty pages before the end; only a repeated forward token
# ends a stream (AWS's documentation). Bound the walk all the same.
MAX_PAGES = 1000


class LogReader:
    def __init__(self, log_group: str) -> None:
        self.log_group = log_group

    def _events(self, stream: str) -> Iterator[dict[str, Any]]:
        logs = client("logs")
        token: str | None = None
        for _ in range(MAX_PAGES):
            kwargs = {
                "logGroupName": self.log_group,
                "logStreamName": stream,
                "startFromHead": True,
            }
            if token:
                kwargs["nextToken"] = token
            page = logs.get_log_events(**kwargs)
            yield from page["events"]
            if page.get("nextForwardToken") in (None, token):
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
                ts = from_epoch_ms(event["timestamp"])
                assert ts is not None
                lines.append(LogLine(ts, message))
                size += encoded
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
        return StreamRead(lines, False, size)
