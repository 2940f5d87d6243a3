"""Metrics as CloudWatch embedded metric format (EMF) lines, written by Powertools.

One invocation's metrics are gathered and printed to stdout when it ends; Lambda sends
stdout to CloudWatch Logs, which turns each EMF line into metric data points (the local
stack reads the same lines: docs/operations.md, "Locally").

Per invocation, not Powertools' process-wide `Metrics`: that one keeps its metric set on
the class, shared by every thread, and `make dev` runs the recorder on several threads
at once. Each invocation here has its own `EphemeralMetrics` per set of dimensions
(an EMF document applies one dimension set to all its metrics), held in a context
variable, so each thread's invocation flushes its own. Outside an invocation (a test
calling an adapter directly) a metric is dropped.

Every metric carries the dimensions `service` and `environment` (Settings); a few add
one of their own (`reason`, `status`, `kind`, `function`). The names are `Metric`'s:
Terraform's alarms and dashboard name the same (tests/infra/test_metric_coverage.py).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit


class Metric(StrEnum):
    """Every metric the product emits; its unit is in UNITS."""

    # submitter
    SUBMISSIONS_CREATED = "SubmissionsCreated"  # a run submitted to Batch (new job or re-run)
    SUBMISSIONS_DEDUPLICATED = "SubmissionsDeduplicated"  # the same input again: no new run
    SUBMISSIONS_REFUSED = "SubmissionsRefused"  # by `reason` (the error's class)
    SUBMIT_JOB_LATENCY = "SubmitJobLatency"  # one SubmitJob call
    SUBMIT_JOB_THROTTLED = "SubmitJobThrottled"  # Batch said slow down, or our own pace did
    ARRAY_CHILDREN = "ArrayChildrenSubmitted"  # children of the array jobs submitted
    # recorder
    EVENTS_RECORDED = "EventsRecorded"  # moved a run forward
    EVENTS_STALE = "EventsStale"  # ours, but behind the run (a duplicate or out of order)
    EVENTS_NOT_OURS = "EventsNotOurs"  # not a job of ours (or an unknown one): ignored
    EVENT_LAG = "EventLag"  # the event's time -> recorded
    LOG_LINES_COPIED = "LogLinesCopied"
    LOG_STREAMS_TRUNCATED = "LogStreamsTruncated"  # streams copied only up to the caps
    JOBS_ENDED = "JobsEnded"  # by `status`: a job's own run reached SUCCEEDED or FAILED
    # reconcile
    RECONCILE_REPAIRS = "ReconcileRepairs"  # all kinds: what the alarm watches
    RECONCILE_REPAIRS_BY_KIND = "ReconcileRepairsByKind"  # by `kind`
    JOBS_STUCK_IN_FLIGHT = "JobsStuckInFlight"  # in flight longer than reconcile's threshold
    # every function
    COLD_START = "ColdStart"  # by `function`


UNITS: dict[Metric, str] = {
    m: MetricUnit.Milliseconds.value
    if m in (Metric.SUBMIT_JOB_LATENCY, Metric.EVENT_LAG)
    else MetricUnit.Count.value
    for m in Metric
}


@dataclass(frozen=True)
class Dimensions:
    namespace: str
    service: str
    environment: str


@dataclass
class _Invocation:
    base: Dimensions
    groups: dict[tuple[tuple[str, str], ...], EphemeralMetrics] = field(default_factory=dict)

    def add(self, metric: Metric, value: float, dimensions: dict[str, str]) -> None:
        key = tuple(sorted(dimensions.items()))
        group = self.groups.get(key)
        if group is None:
            group = EphemeralMetrics(
                namespace=self.base.namespace,
                service=self.base.service,
                default_dimensions={"environment": self.base.environment, **dimensions},
            )
            self.groups[key] = group
        group.add_metric(name=metric.value, unit=UNITS[metric], value=value)

    def flush(self) -> None:
        for group in self.groups.values():
            if group.metric_set:
                group.flush_metrics()
        self.groups.clear()


_current: ContextVar[_Invocation | None] = ContextVar("overlord_metrics", default=None)
_started: set[str] = set()  # functions that have had their first invocation here
_started_lock = threading.Lock()


def add(metric: Metric, value: float = 1, **dimensions: str) -> None:
    """Add to the current invocation's metrics (dropped outside one)."""
    invocation = _current.get()
    if invocation is not None:
        invocation.add(metric, value, dimensions)


@contextlib.contextmanager
def invocation(base: Dimensions, function: str) -> Iterator[None]:
    """Gather the metrics added until the block ends, then print them as EMF lines (also
    when it raises). The first invocation of `function` in a process counts a cold start."""
    current = _Invocation(base)
    token = _current.set(current)
    with _started_lock:
        cold = function not in _started
        _started.add(function)
    if cold:
        current.add(Metric.COLD_START, 1, {"function": function})
    try:
        yield
    finally:
        _current.reset(token)
        current.flush()
