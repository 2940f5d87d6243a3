"""What the services' outcomes mean as metrics: the handlers hand them over here.

The services stay pure (domain + ports): they return what they did (`Submission`,
`record.Outcome`, `ReconcileReport`) and this module, beside `wiring`, turns that into
metrics through the EMF adapter. docs/operations.md lists each metric;
docs/design.md, "Metrics", says why outcomes rather than a metrics port.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime

from overlord.adapters import metrics
from overlord.adapters.config import Settings
from overlord.adapters.metrics import Metric
from overlord.domain.clock import utcnow
from overlord.services.reconcile import ReconcileReport
from overlord.services.record import Outcome
from overlord.services.submit import Submission


def dimensions(settings: Settings) -> metrics.Dimensions:
    return metrics.Dimensions(settings.metrics_namespace, settings.service, settings.environment)


@contextlib.contextmanager
def invocation(function: str) -> Iterator[None]:
    """One Lambda invocation's metrics, printed as EMF when it ends."""
    with metrics.invocation(dimensions(Settings.from_env()), function):
        yield


def submitted(submission: Submission) -> None:
    if not submission.created:
        metrics.add(Metric.SUBMISSIONS_DEDUPLICATED)
        return
    metrics.add(Metric.SUBMISSIONS_CREATED)
    if submission.array_size:
        metrics.add(Metric.ARRAY_CHILDREN, submission.array_size)


def refused(error: Exception) -> None:
    """A submission answered with an error; its class is the reason (a short, fixed set)."""
    metrics.add(Metric.SUBMISSIONS_REFUSED, reason=type(error).__name__)


def recorded(outcome: Outcome, event_time: datetime) -> None:
    if not outcome.recorded:
        metrics.add(Metric.EVENTS_NOT_OURS)
        return
    metrics.add(Metric.EVENTS_RECORDED if outcome.moved else Metric.EVENTS_STALE)
    lag_ms = (utcnow() - event_time).total_seconds() * 1000
    metrics.add(Metric.EVENT_LAG, max(0.0, lag_ms))
    _copied(outcome)


def _copied(outcome: Outcome) -> None:
    if outcome.log_lines:
        metrics.add(Metric.LOG_LINES_COPIED, outcome.log_lines)
    if outcome.log_streams_truncated:
        metrics.add(Metric.LOG_STREAMS_TRUNCATED, outcome.log_streams_truncated)
    if outcome.ended:
        metrics.add(Metric.JOBS_ENDED, status=outcome.ended)


def reconciled(report: ReconcileReport) -> None:
    # Every pass, zero included: the stuck-jobs alarm then always has data to judge.
    metrics.add(Metric.JOBS_STUCK_IN_FLIGHT, report.checked)
    repairs = {
        "moved": len(report.moved),
        "adopted": len(report.adopted),
        "submit_failed": len(report.submit_failed),
        "unknown_to_batch": len(report.unknown_to_batch),
        "late_log_lines": report.late_log_lines,
        "children": report.children_repaired,
    }
    # The total every pass too (zero included), for the alarm; by kind for the dashboard.
    metrics.add(Metric.RECONCILE_REPAIRS, sum(repairs.values()))
    for kind, count in repairs.items():
        if count:
            metrics.add(Metric.RECONCILE_REPAIRS_BY_KIND, count, kind=kind)
    for status, count in report.ended.items():
        metrics.add(Metric.JOBS_ENDED, count, status=status)
