"""SQS standard queues for the local stacks: the Batch rule's target, as on AWS.

Both classes offer what the event source mapping (``eventrouter.mapping``) needs:
``send(event)``, ``receive(max_messages, wait_seconds)``, ``delete(messages)`` and
``outstanding()``. ``MemoryQueue`` (``make dev``) keeps SQS's delivery rules in this
process: a received message is invisible for ``visibility_timeout`` seconds and comes
back unless deleted, and one received more than ``max_receive_count`` times goes to the
dead-letter file instead (its redrive policy). ``SqsQueue`` (``make up``) is a real
queue on LocalStack, whose redrive policy the LocalStack hook sets.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)
Event = dict[str, Any]
SQS_MAX_RECEIVE = 10  # ReceiveMessage's MaxNumberOfMessages cap
SQS_MAX_WAIT = 20  # ReceiveMessage's WaitTimeSeconds cap


@dataclass
class Message:
    message_id: str
    receipt_handle: str
    body: str  # the EventBridge event as JSON, as EventBridge writes it to SQS
    receive_count: int
    sent_at_ms: int


class Queue(Protocol):
    arn: str

    def send(self, event: Event) -> None: ...

    def receive(self, max_messages: int, wait_seconds: float) -> list[Message]: ...

    def delete(self, messages: list[Message]) -> None: ...

    def outstanding(self) -> int: ...


@dataclass
class _Stored:
    message_id: str
    body: str
    sent_at_ms: int
    receive_count: int = 0
    visible_at: float = 0.0
    receipt: str = ""


class MemoryQueue:
    """An SQS standard queue with a redrive policy, in memory."""

    def __init__(
        self,
        name: str = "overlord-batch-events",
        *,
        visibility_timeout: float = 30.0,
        max_receive_count: int = 5,
        dead_letter_path: str | Path | None = None,
    ) -> None:
        self.arn = f"arn:aws:sqs:us-east-1:000000000000:{name}"
        self.visibility_timeout = visibility_timeout
        self.max_receive_count = max_receive_count
        self.dead_letter_path = Path(dead_letter_path) if dead_letter_path else None
        self.dead_letters: list[dict[str, Any]] = []
        self._visible: deque[_Stored] = deque()
        self._in_flight: dict[str, _Stored] = {}
        self._changed = threading.Condition()
        self._receipts = itertools.count()

    def send(self, event: Event) -> None:
        stored = _Stored(str(uuid.uuid4()), json.dumps(event), int(time.time() * 1000))
        with self._changed:
            self._visible.append(stored)
            self._changed.notify()

    def receive(self, max_messages: int, wait_seconds: float) -> list[Message]:
        """Up to ``max_messages`` visible messages, waiting up to ``wait_seconds`` for
        the first (long polling)."""
        deadline = time.monotonic() + wait_seconds
        with self._changed:
            while True:
                self._requeue_expired()
                got = self._take(max_messages)
                remaining = deadline - time.monotonic()
                if got or remaining <= 0:
                    return got
                # Wake for new messages, or when the next in-flight one times out.
                self._changed.wait(min(remaining, self._next_expiry()))

    def delete(self, messages: list[Message]) -> None:
        with self._changed:
            for m in messages:
                stored = self._in_flight.get(m.message_id)
                # A stale receipt (the message came back and was received again) is
                # ignored, as SQS ignores it once the message is received anew.
                if stored is not None and stored.receipt == m.receipt_handle:
                    del self._in_flight[m.message_id]
            self._changed.notify_all()

    def outstanding(self) -> int:
        """Messages sent and not yet deleted or dead-lettered."""
        with self._changed:
            return len(self._visible) + len(self._in_flight)

    # -- inside the lock ---------------------------------------------------------------
    def _requeue_expired(self) -> None:
        now = time.monotonic()
        for message_id, stored in list(self._in_flight.items()):
            if stored.visible_at <= now:
                del self._in_flight[message_id]
                self._visible.append(stored)

    def _next_expiry(self) -> float:
        if not self._in_flight:
            return 1.0
        soonest = min(s.visible_at for s in self._in_flight.values())
        return max(0.01, soonest - time.monotonic())

    def _take(self, max_messages: int) -> list[Message]:
        got: list[Message] = []
        while self._visible and len(got) < max_messages:
            stored = self._visible.popleft()
            if stored.receive_count >= self.max_receive_count:
                self._dead_letter(stored)
                continue
            stored.receive_count += 1
            stored.receipt = f"{stored.message_id}#{next(self._receipts)}"
            stored.visible_at = time.monotonic() + self.visibility_timeout
            self._in_flight[stored.message_id] = stored
            got.append(
                Message(
                    stored.message_id,
                    stored.receipt,
                    stored.body,
                    stored.receive_count,
                    stored.sent_at_ms,
                )
            )
        return got

    def _dead_letter(self, stored: _Stored) -> None:
        record = {
            "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "queue": self.arn,
            "receive_count": stored.receive_count,
            "event": json.loads(stored.body),
        }
        self.dead_letters.append(record)
        log.error(
            "message %s of %s dead-lettered after %d receives",
            stored.message_id,
            self.arn,
            stored.receive_count,
        )
        if self.dead_letter_path is not None:
            self.dead_letter_path.parent.mkdir(parents=True, exist_ok=True)
            with self.dead_letter_path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")


class SqsQueue:
    """A real SQS queue (LocalStack's in ``make up``) through boto3."""

    def __init__(self, queue_url: str, client: Any = None) -> None:
        import boto3

        self.url = queue_url
        self._sqs = client or boto3.client("sqs")
        attributes = self._sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        self.arn: str = attributes["Attributes"]["QueueArn"]

    @classmethod
    def named(cls, name_or_url: str) -> SqsQueue:
        """The queue by URL, or by name (GetQueueUrl: LocalStack's URLs name its host)."""
        if name_or_url.startswith(("http://", "https://")):
            return cls(name_or_url)
        import boto3

        client = boto3.client("sqs")
        return cls(client.get_queue_url(QueueName=name_or_url)["QueueUrl"], client)

    def send(self, event: Event) -> None:
        self._sqs.send_message(QueueUrl=self.url, MessageBody=json.dumps(event))

    def receive(self, max_messages: int, wait_seconds: float) -> list[Message]:
        answer = self._sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=max(1, min(max_messages, SQS_MAX_RECEIVE)),
            WaitTimeSeconds=max(0, min(SQS_MAX_WAIT, int(wait_seconds + 0.999))),
            MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
        )
        return [
            Message(
                m["MessageId"],
                m["ReceiptHandle"],
                m["Body"],
                int(m.get("Attributes", {}).get("ApproximateReceiveCount", 1)),
                int(m.get("Attributes", {}).get("SentTimestamp", 0)),
            )
            for m in answer.get("Messages", [])
        ]

    def delete(self, messages: list[Message]) -> None:
        for start in range(0, len(messages), SQS_MAX_RECEIVE):
            chunk = messages[start : start + SQS_MAX_RECEIVE]
            self._sqs.delete_message_batch(
                QueueUrl=self.url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(chunk)
                ],
            )

    def outstanding(self) -> int:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )


class QueueTarget:
    """The event router's target that sends each matched event to a queue (the Batch
    rule's SQS target); a failed send is retried and dead-lettered by the router."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue
        self.name = queue.arn

    def deliver(self, event: Event) -> None:
        self.queue.send(event)
