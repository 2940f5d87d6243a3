"""A local stand-in for the EventBridge rule that sends Batch events to the recorder.

>>> router = EventRouter(dead_letter_path=".overlord/dead-letters.jsonl")
>>> queue = MemoryQueue(dead_letter_path=".overlord/dead-letters.jsonl")  # the rule's SQS target
>>> router.add_rule(load_batch_pattern(queue_arn), QueueTarget(queue))
>>> mapping = EventSourceMapping(queue, invoke_recorder, batch_size=10, window=0.5).start()
>>> LocalBatchServer(ProcessExecutor(), on_event=router.put).start()
>>> router.stop(); mapping.stop()   # drain, then stop the workers
"""

from overlord_local.eventrouter.mapping import EventSourceMapping, sqs_event
from overlord_local.eventrouter.patterns import load_batch_pattern, matches
from overlord_local.eventrouter.queues import MemoryQueue, QueueTarget, SqsQueue
from overlord_local.eventrouter.router import EventRouter, Rule
from overlord_local.eventrouter.targets import (
    CallableTarget,
    DeliveryError,
    LambdaInvokeTarget,
    Target,
    as_target,
)

__all__ = [
    "CallableTarget",
    "DeliveryError",
    "EventRouter",
    "EventSourceMapping",
    "LambdaInvokeTarget",
    "MemoryQueue",
    "QueueTarget",
    "Rule",
    "SqsQueue",
    "Target",
    "as_target",
    "load_batch_pattern",
    "matches",
    "sqs_event",
]
