"""The local stack's reading of the handlers' EMF lines (overlord_local.metrics): what
the product prints comes out of GET /metrics as the same figures."""

from __future__ import annotations

import io
import threading

import pytest
from prometheus_client.parser import text_string_to_metric_families

from overlord.adapters import metrics
from overlord.adapters.metrics import Metric
from overlord_local.metrics import EmfCollector, StdoutTee, prometheus_name
from overlord_local.stats_command import rows

BASE = metrics.Dimensions("Overlord", "overlord", "local")


def samples(collector: EmfCollector) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = collector.exposition().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.name.endswith("_created")
    }


def product_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    with metrics.invocation(BASE, "local-a"):
        metrics.add(Metric.SUBMISSIONS_CREATED)
        metrics.add(Metric.SUBMISSIONS_CREATED)
        metrics.add(Metric.SUBMISSIONS_REFUSED, reason="InvalidRequest")
        metrics.add(Metric.EVENT_LAG, 100)
        metrics.add(Metric.EVENT_LAG, 300)
        metrics.add(Metric.JOBS_STUCK_IN_FLIGHT, 4)
    with metrics.invocation(BASE, "local-a"):
        metrics.add(Metric.JOBS_STUCK_IN_FLIGHT, 1)
    return capsys.readouterr().out.splitlines()


def test_the_products_emf_becomes_prometheus_series(capsys: pytest.CaptureFixture[str]) -> None:
    collector = EmfCollector()
    for line in ["not json", '{"level": "INFO"}', *product_lines(capsys)]:
        collector.feed_line(line)
    found = samples(collector)
    common = (("environment", "local"), ("service", "overlord"))
    assert found[("overlord_submissions_created_total", common)] == 2
    refused = tuple(sorted((*common, ("reason", "InvalidRequest"))))
    assert found[("overlord_submissions_refused_total", refused)] == 1
    assert found[("overlord_event_lag_milliseconds_count", common)] == 2
    assert found[("overlord_event_lag_milliseconds_sum", common)] == 400
    # A level: the last pass's figure, not a sum of passes.
    assert found[("overlord_jobs_stuck_in_flight", common)] == 1
    cold = tuple(sorted((*common, ("function", "local-a"))))
    assert found[("overlord_cold_start_total", cold)] == 1


def test_stats_rows_read_the_exposition(capsys: pytest.CaptureFixture[str]) -> None:
    collector = EmfCollector()
    for line in product_lines(capsys):
        collector.feed_line(line)
    found = rows(collector.exposition().decode())
    created = [r for r in found if r["metric"] == "overlord_submissions_created"]
    assert created == [
        {
            "metric": "overlord_submissions_created",
            "type": "counter",
            "labels": {"environment": "local", "service": "overlord"},
            "value": 2.0,
        }
    ]
    (lag,) = [r for r in found if r["metric"] == "overlord_event_lag_milliseconds"]
    assert (lag["count"], lag["sum"]) == (2.0, 400.0)


def test_the_tee_passes_everything_through_and_reads_whole_lines_per_thread() -> None:
    out = io.StringIO()
    collector = EmfCollector()
    tee = StdoutTee(out, collector)
    doc = (
        '{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":'
        '[["service"]],"Metrics":[{"Name":"EventsRecorded","Unit":"Count"}]}]},'
        '"service":"s","EventsRecorded":[1.0]}'
    )
    barrier = threading.Barrier(8)

    def printer() -> None:
        barrier.wait()
        for _ in range(50):
            # as print() does: the text, then its newline, in two writes
            tee.write(doc)
            tee.write("\n")

    threads = [threading.Thread(target=printer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert collector.documents == 400
    assert samples(collector)[("overlord_events_recorded_total", (("service", "s"),))] == 400
    assert out.getvalue().count("\n") == 400


def test_names_follow_prometheus_conventions() -> None:
    assert prometheus_name("SubmitJobLatency") == "overlord_submit_job_latency"
    assert prometheus_name("ColdStart") == "overlord_cold_start"
