"""Ship an attempt's output lines to CloudWatch Logs, batched and in order.

PutLogEvents limits respected: at most 10,000 events and 1,048,576 bytes per call
(each event counts its UTF-8 size plus 26 bytes), events of at most 256 KiB,
timestamps non-decreasing within a call. Empty lines are dropped, as Docker's
``awslogs`` driver does. Failures to reach CloudWatch are logged, never raised:
a missing log endpoint must not fail a job.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26
MAX_EVENT_BYTES = 256 * 1024 - EVENT_OVERHEAD
_CLOSE = object()


def ensure_stream(client: Any, group: str, stream: str) -> None:
    """Create the stream, and its group only when missing: one call per attempt, not two
    (an array of 10,000 children makes 10,000 streams in one group)."""
    exists = client.exceptions.ResourceAlreadyExistsException
    try:
        with contextlib.suppress(exists):
            client.create_log_stream(logGroupName=group, logStreamName=stream)
        return
    except client.exceptions.ResourceNotFoundException:
        pass
    with contextlib.suppress(exists):
        client.create_log_group(logGroupName=group)
    with contextlib.suppress(exists):
        client.create_log_stream(logGroupName=group, logStreamName=stream)


class LogShipper:
    """Collects lines from any thread and puts them to one log stream from its own thread."""

    def __init__(self, client: Any, group: str, stream: str, flush_interval: float = 0.2) -> None:
        self._client = client
        self._group = group
        self._stream = stream
        self._flush_interval = flush_interval
        self._queue: queue.Queue[Any] = queue.Queue()
        self._last_ts = 0
        self._ready = False
        self._thread = threading.Thread(target=self._run, name=f"logs:{stream}", daemon=True)
        self._thread.start()

    def write(self, line: str) -> None:
        line = line.rstrip("\r\n")
        if not line:
            return
        encoded = line.encode("utf-8")
        if len(encoded) > MAX_EVENT_BYTES:
            line = encoded[:MAX_EVENT_BYTES].decode("utf-8", errors="ignore")
        ts = max(int(time.time() * 1000), self._last_ts)
        self._last_ts = ts
        self._queue.put({"timestamp": ts, "message": line})

    def close(self, timeout: float = 10.0) -> None:
        """Flush what is left and stop the shipping thread."""
        self._queue.put(_CLOSE)
        self._thread.join(timeout)

    def _run(self) -> None:
        batch: list[dict[str, Any]] = []
        size = 0
        deadline = 0.0
        while True:
            wait = self._flush_interval if not batch else max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                item = None
            if item is _CLOSE or item is None:
                if batch:
                    self._put(batch)
                    batch, size = [], 0
                if item is _CLOSE:
                    return
                continue
            item_size = len(item["message"].encode("utf-8")) + EVENT_OVERHEAD
            if len(batch) >= MAX_BATCH_EVENTS or size + item_size > MAX_BATCH_BYTES:
                self._put(batch)
                batch, size = [], 0
            if not batch:
                deadline = time.monotonic() + self._flush_interval
            batch.append(item)
            size += item_size

    def _put(self, batch: list[dict[str, Any]]) -> None:
        try:
            if not self._ready:
                ensure_stream(self._client, self._group, self._stream)
                self._ready = True
            self._client.put_log_events(
                logGroupName=self._group, logStreamName=self._stream, logEvents=batch
            )
        except Exception:
            log.warning(
                "could not put %d log events to %s %s",
                len(batch),
                self._group,
                self._stream,
                exc_info=True,
            )
