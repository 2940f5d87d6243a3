"""Metrics: the EMF the product prints, and what each outcome counts (docs/operations.md)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from overlord.adapters import metrics
from overlord.adapters.metrics import Metric
from overlord.domain.clock import utcnow
from overlord.runtime import telemetry
from overlord.services.reconcile import ReconcileReport
from overlord.services.record import Outcome
from overlord.services.submit import Submission
from tests.support import emf

BASE = metrics.Dimensions("Overlord", "overlord", "test")


def printed(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    docs = emf.documents(capsys.readouterr().out.splitlines())
    for doc in docs:
        assert emf.problems(doc) == []
    return docs


def values(docs: list[dict[str, Any]], name: str, **dimensions: str) -> list[float]:
    """Every value of `name` in documents carrying exactly these extra dimensions."""
    found: list[float] = []
    for doc in docs:
        dims = set(doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0])
        if dims != {"service", "environment", *dimensions}:
            continue
        if any(doc[k] != v for k, v in dimensions.items()) or name not in doc:
            continue
        value = doc[name]
        found += value if isinstance(value, list) else [value]
    return found


def test_an_invocation_prints_valid_emf_with_the_settings_dimensions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with metrics.invocation(BASE, "unit-a"):
        metrics.add(Metric.SUBMISSIONS_CREATED)
        metrics.add(Metric.SUBMISSIONS_CREATED)
        metrics.add(Metric.SUBMISSIONS_REFUSED, reason="InvalidRequest")
        metrics.add(Metric.SUBMIT_JOB_LATENCY, 12.5)
    docs = printed(capsys)
    assert all(d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Overlord" for d in docs)
    assert all(d["service"] == "overlord" and d["environment"] == "test" for d in docs)
    assert sum(values(docs, "SubmissionsCreated")) == 2
    assert values(docs, "SubmissionsRefused", reason="InvalidRequest") == [1]
    assert values(docs, "SubmitJobLatency") == [12.5]
    assert values(docs, "ColdStart", function="unit-a") == [1]
    units = {
        m["Name"]: m["Unit"] for d in docs for m in d["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    }
    assert units["SubmitJobLatency"] == "Milliseconds"
    assert units["SubmissionsCreated"] == "Count"


def test_a_cold_start_is_counted_once_per_function(capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(3):
        with metrics.invocation(BASE, "unit-b"):
            metrics.add(Metric.EVENTS_RECORDED)
    docs = printed(capsys)
    assert values(docs, "ColdStart", function="unit-b") == [1]
    assert sum(values(docs, "EventsRecorded")) == 3


def test_metrics_are_printed_when_the_invocation_raises(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def failing() -> None:
        with metrics.invocation(BASE, "unit-c"):
            metrics.add(Metric.EVENTS_STALE)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        failing()
    assert values(printed(capsys), "EventsStale") == [1]


def test_outside_an_invocation_a_metric_is_dropped(capsys: pytest.CaptureFixture[str]) -> None:
    metrics.add(Metric.EVENTS_STALE)
    assert printed(capsys) == []


def test_concurrent_invocations_each_flush_their_own(capsys: pytest.CaptureFixture[str]) -> None:
    """`make dev` runs the recorder on several threads: no metric lost or counted twice."""
    barrier = threading.Barrier(4)

    def one(n: int) -> None:
        with metrics.invocation(BASE, "unit-d"):
            barrier.wait()
            for _ in range(n):
                metrics.add(Metric.LOG_LINES_COPIED, 1)

    threads = [threading.Thread(target=one, args=(n,)) for n in (1, 2, 3, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    docs = printed(capsys)
    assert sum(values(docs, "LogLinesCopied")) == 10
    assert sorted(len(values([d], "LogLinesCopied")) for d in docs if "LogLinesCopied" in d) == [
        1,
        2,
        3,
        4,
    ]


def test_outcomes_become_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    with metrics.invocation(BASE, "unit-e"):
        telemetry.submitted(Submission("job-a", "SUBMITTED", "b1", 1, True, array_size=5))
        telemetry.submitted(Submission("job-a", "SUBMITTED", "b1", 1, False))
        telemetry.refused(ValueError("x"))
        telemetry.recorded(Outcome(False), utcnow())
        telemetry.recorded(Outcome(True, False), utcnow())
        telemetry.recorded(
            Outcome(True, True, log_lines=7, log_streams_truncated=1, ended="FAILED"),
            utcnow() - timedelta(seconds=2),
        )
        telemetry.reconciled(
            ReconcileReport(checked=3, moved=["job-a"], late_log_lines=4, ended={"SUCCEEDED": 1})
        )
    docs = printed(capsys)
    assert values(docs, "SubmissionsCreated") == [1]
    assert values(docs, "ArrayChildrenSubmitted") == [5]
    assert values(docs, "SubmissionsDeduplicated") == [1]
    assert values(docs, "SubmissionsRefused", reason="ValueError") == [1]
    assert values(docs, "EventsNotOurs") == [1]
    assert values(docs, "EventsStale") == [1]
    assert values(docs, "EventsRecorded") == [1]
    lags = values(docs, "EventLag")
    assert len(lags) == 2 and max(lags) >= 2000
    assert values(docs, "LogLinesCopied") == [7]
    assert values(docs, "LogStreamsTruncated") == [1]
    assert values(docs, "JobsEnded", status="FAILED") == [1]
    assert values(docs, "JobsEnded", status="SUCCEEDED") == [1]
    assert values(docs, "JobsStuckInFlight") == [3]
    assert values(docs, "ReconcileRepairs") == [5]
    assert values(docs, "ReconcileRepairsByKind", kind="moved") == [1]
    assert values(docs, "ReconcileRepairsByKind", kind="late_log_lines") == [4]


def test_a_quiet_reconcile_still_reports_zero(capsys: pytest.CaptureFixture[str]) -> None:
    """The stuck-jobs and repairs alarms need a data point every pass, not silence."""
    with metrics.invocation(BASE, "unit-f"):
        telemetry.reconciled(ReconcileReport())
    docs = printed(capsys)
    assert values(docs, "JobsStuckInFlight") == [0]
    assert values(docs, "ReconcileRepairs") == [0]


def test_the_schema_refuses_what_the_specification_forbids() -> None:
    good = {
        "_aws": {
            "Timestamp": 1,
            "CloudWatchMetrics": [
                {"Namespace": "N", "Dimensions": [["service"]], "Metrics": [{"Name": "M"}]}
            ],
        },
        "service": "s",
        "M": [1.0, 2.0],
    }
    assert emf.problems(good) == []
    no_timestamp = {**good, "_aws": {"CloudWatchMetrics": good["_aws"]["CloudWatchMetrics"]}}
    assert emf.problems(no_timestamp)
    assert emf.problems({**good, "M": "one"})
    assert emf.problems({k: v for k, v in good.items() if k != "service"})
    bad_unit = {
        **good,
        "_aws": {
            "Timestamp": 1,
            "CloudWatchMetrics": [
                {"Namespace": "N", "Dimensions": [], "Metrics": [{"Name": "M", "Unit": "Things"}]}
            ],
        },
    }
    assert emf.problems(bad_unit)
    assert emf.problems({**good, "M": list(range(101))})
