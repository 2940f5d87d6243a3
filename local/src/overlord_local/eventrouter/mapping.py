"""A local Lambda event source mapping: SQS batches into a function, as on AWS.

Each of ``concurrency`` pollers (the mapping's ``maximum_concurrency``) receives up to
``batch_size`` messages, waiting up to ``window`` seconds after the first to fill the
batch (``maximum_batching_window_in_seconds``), and invokes the function with an SQS
event. With ``ReportBatchItemFailures`` the function answers
``{"batchItemFailures": [{"itemIdentifier": messageId}, …]}``: every other message is
deleted, the named ones stay and come back after the queue's visibility timeout. A
function error deletes nothing: the whole batch comes back. The queue's redrive policy
dead-letters what keeps failing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from overlord_local.eventrouter.queues import Message, Queue

log = logging.getLogger(__name__)
Invoke = Callable[[dict[str, Any]], Any]
POLL_SECONDS = 1.0  # long-poll wait between checks of the stop flag


def sqs_event(queue: Queue, messages: list[Message]) -> dict[str, Any]:
    """The event Lambda's SQS poller passes to the function for ``messages``."""
    return {
        "Records": [
            {
                "messageId": m.message_id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "attributes": {
                    "ApproximateReceiveCount": str(m.receive_count),
                    "SentTimestamp": str(m.sent_at_ms),
                    "SenderId": "events.amazonaws.com",
                    "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000)),
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue.arn,
                "awsRegion": queue.arn.split(":")[3],
            }
            for m in messages
        ]
    }


def failed_ids(answer: Any, messages: list[Message]) -> set[str]:
    """The message IDs a ReportBatchItemFailures answer names. Lambda treats an answer
    it cannot read, or one naming a message not in the batch, as a failed batch."""
    if answer is None:
        return set()
    ids = {m.message_id for m in messages}
    try:
        items = answer.get("batchItemFailures", []) if isinstance(answer, dict) else None
        named = {str(i["itemIdentifier"]) for i in items} if items is not None else None
    except (TypeError, KeyError):
        named = None
    if named is None or not named <= ids:
        log.warning("unreadable batchItemFailures answer %r: the batch fails", answer)
        return ids
    return named


class EventSourceMapping:
    """Pollers that feed ``queue`` to ``invoke`` in batches until stopped."""

    def __init__(
        self,
        queue: Queue,
        invoke: Invoke,
        *,
        batch_size: int = 10,
        window: float = 0.5,
        concurrency: int = 2,
        name: str = "recorder",
    ) -> None:
        if batch_size < 1 or concurrency < 1 or window < 0:
            raise ValueError("batch_size and concurrency >= 1, window >= 0")
        self.queue, self.invoke, self.name = queue, invoke, name
        self.batch_size, self.window, self.concurrency = batch_size, window, concurrency
        self.batches = 0
        self.messages = 0
        self.failed = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._count_lock = threading.Lock()

    def start(self) -> EventSourceMapping:
        for i in range(self.concurrency):
            thread = threading.Thread(target=self._poll, name=f"esm-{self.name}-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until the queue holds nothing (every message deleted or dead-lettered)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.queue.outstanding():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def stop(self, timeout: float | None = 10.0) -> bool:
        drained = self.drain(timeout)
        self._stop.set()
        for thread in self._threads:
            thread.join(POLL_SECONDS + 1)
        self._threads = []
        return drained

    # -- one poller ----------------------------------------------------------------------
    def gather(self) -> list[Message]:
        """One batch: long-poll for the first message, then fill up to ``batch_size``
        for at most ``window`` seconds."""
        batch = self.queue.receive(self.batch_size, POLL_SECONDS)
        if not batch:
            return []
        deadline = time.monotonic() + self.window
        while len(batch) < self.batch_size and not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            batch += self.queue.receive(self.batch_size - len(batch), left)
        return batch

    def process(self, batch: list[Message]) -> None:
        """Invoke the function with one batch and delete what it did not name as failed."""
        try:
            failed = failed_ids(self.invoke(sqs_event(self.queue, batch)), batch)
        except Exception as exc:
            log.warning(
                "%s failed a batch of %d (%s); it comes back after the visibility timeout",
                self.name,
                len(batch),
                exc,
            )
            failed = {m.message_id for m in batch}
        self.queue.delete([m for m in batch if m.message_id not in failed])
        with self._count_lock:
            self.batches += 1
            self.messages += len(batch)
            self.failed += len(failed)

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                batch = self.gather()
                if batch:
                    self.process(batch)
            except Exception:
                log.exception("event source mapping %s: polling failed", self.name)
                self._stop.wait(1.0)
