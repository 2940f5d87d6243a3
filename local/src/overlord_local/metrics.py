"""The handlers' metrics, locally: the EMF lines they print, added up and served in
Prometheus' text format (`GET /metrics` on the local gateway, `overlord stats`).

On AWS, CloudWatch Logs reads the embedded metric format (EMF) out of each Lambda's
stdout. Here the dev stack does: `EmfCollector.feed_line` takes every line a hosted
handler prints (in this process through `StdoutTee`, under aws-lambda-rie through the
emulator's stdout) and keeps the documents' values by metric and dimensions. It knows
the EMF shape only, not the product: a metric in `Count` is a Prometheus counter
(summed), one in a time unit a summary (count and sum), and the names in `LEVELS` are
levels, reported as gauges holding the last value.
"""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

PREFIX = "overlord_"
# Metrics that say how many things are in a state right now, not how many happened.
LEVELS = frozenset({"JobsStuckInFlight"})
_TIME_UNITS = {"Seconds": "seconds", "Milliseconds": "milliseconds", "Microseconds": "microseconds"}
_WORD = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def prometheus_name(name: str) -> str:
    """`SubmitJobLatency` → `overlord_submit_job_latency`."""
    return PREFIX + _WORD.sub("_", name).lower()


@dataclass
class _Series:
    unit: str
    count: float = 0  # values seen
    total: float = 0  # their sum
    last: float = 0


class EmfCollector(Collector):
    """Every EMF document fed in, added up by (metric, dimensions)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[tuple[str, tuple[tuple[str, str], ...]], _Series] = {}
        self.documents = 0

    def feed_line(self, line: str) -> None:
        text = line.strip()
        if not text.startswith("{") or '"_aws"' not in text:
            return
        try:
            doc = json.loads(text)
        except ValueError:
            return
        if isinstance(doc, dict):
            self.feed(doc)

    def feed(self, doc: dict[str, Any]) -> None:
        directives = (doc.get("_aws") or {}).get("CloudWatchMetrics")
        if not isinstance(directives, list):
            return
        with self._lock:
            self.documents += 1
            for directive in directives:
                self._add(doc, directive)

    def _add(self, doc: dict[str, Any], directive: dict[str, Any]) -> None:
        # Each dimension set is a metric of its own in CloudWatch, and here.
        for dimension_set in directive.get("Dimensions") or [[]]:
            labels = tuple(sorted((k, str(doc.get(k, ""))) for k in dimension_set))
            for definition in directive.get("Metrics") or []:
                name = definition.get("Name")
                value = doc.get(name)
                values = value if isinstance(value, list) else [value]
                numbers = [float(v) for v in values if isinstance(v, (int, float))]
                if not name or not numbers:
                    continue
                series = self._series.setdefault(
                    (name, labels), _Series(definition.get("Unit") or "None")
                )
                series.count += len(numbers)
                series.total += sum(numbers)
                series.last = numbers[-1]

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            by_name: dict[str, list[tuple[dict[str, str], _Series]]] = {}
            for (name, labels), series in sorted(self._series.items()):
                by_name.setdefault(name, []).append((dict(labels), _copy(series)))
        for name, rows in by_name.items():
            yield _family(name, rows)

    def exposition(self) -> bytes:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)
        return generate_latest(registry)


def _copy(series: _Series) -> _Series:
    return _Series(series.unit, series.count, series.total, series.last)


def _family(name: str, rows: list[tuple[dict[str, str], _Series]]) -> Metric:
    label_names = sorted({k for labels, _ in rows for k in labels})
    unit = rows[0][1].unit
    base = prometheus_name(name)
    family: Any
    if name in LEVELS:
        family = GaugeMetricFamily(base, f"{name} (EMF, last value)", labels=label_names)
        for labels, s in rows:
            family.add_metric([labels.get(k, "") for k in label_names], s.last)
    elif unit in _TIME_UNITS:
        family = SummaryMetricFamily(
            f"{base}_{_TIME_UNITS[unit]}", f"{name} (EMF, {unit})", labels=label_names
        )
        for labels, s in rows:
            family.add_metric([labels.get(k, "") for k in label_names], s.count, s.total)
    else:
        family = CounterMetricFamily(base, f"{name} (EMF, {unit})", labels=label_names)
        for labels, s in rows:
            family.add_metric([labels.get(k, "") for k in label_names], s.total)
    return family


class StdoutTee(io.TextIOBase):
    """Stands in for sys.stdout: writes pass through, and each complete line also goes
    to the collector. Lines are assembled per thread (print writes the text and its
    newline separately, and handlers print from several threads at once)."""

    def __init__(self, stream: TextIO, collector: EmfCollector) -> None:
        self.stream = stream
        self.collector = collector
        self._partial = threading.local()

    def write(self, text: str) -> int:
        written = self.stream.write(text)
        pending = getattr(self._partial, "text", "") + text
        *lines, rest = pending.split("\n")
        self._partial.text = rest
        for line in lines:
            self.collector.feed_line(line)
        return written

    def flush(self) -> None:
        self.stream.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", "utf-8")
