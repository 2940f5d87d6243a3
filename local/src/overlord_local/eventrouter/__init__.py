"""A local stand-in for the EventBridge rule that sends Batch events to the recorder.

>>> router = EventRouter(dead_letter_path=".overlord/dead-letters.jsonl")
>>> router.add_rule(load_batch_pattern(queue_arn), recorder.handler, "http://rie:8080/...")
>>> LocalBatchServer(ProcessExecutor(), on_event=router.put).start()
>>> router.stop()   # drain, then stop the worker
"""

from overlord_local.eventrouter.patterns import load_batch_pattern, matches
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
    "LambdaInvokeTarget",
    "Rule",
    "Target",
    "as_target",
    "load_batch_pattern",
    "matches",
]
