"""`overlord stats`: the local stack's metrics (the handlers' EMF lines, as the gateway's
GET /metrics serves them) as a table that refreshes; `--once` prints it and exits."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from prometheus_client.parser import text_string_to_metric_families
from rich.live import Live
from rich.table import Table

from overlord_local.apigateway.gateway import METRICS_PATH
from overlord_local.client_commands import (
    Output,
    OutputOption,
    _client,
    _fail,
    _json,
    console,
)

# Every series carries these; the table leaves them out.
COMMON_LABELS = ("service", "environment")


def rows(text: str) -> list[dict[str, Any]]:
    """One row per series: counters and gauges with their value, summaries (timings)
    with their count and sum."""
    found: list[dict[str, Any]] = []
    for family in text_string_to_metric_families(text):
        series: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            key = tuple(sorted(sample.labels.items()))
            row = series.setdefault(
                key, {"metric": family.name, "type": family.type, "labels": dict(key)}
            )
            if family.type == "summary":
                row["count" if sample.name.endswith("_count") else "sum"] = sample.value
            else:
                row["value"] = sample.value
        found += series.values()
    return found


def _value(row: dict[str, Any]) -> str:
    if row["type"] == "summary":
        count, total = row.get("count", 0), row.get("sum", 0)
        average = total / count if count else 0
        return f"{count:g} (avg {average:,.1f})"
    return f"{row['value']:g}"


def table(found: list[dict[str, Any]], source: str) -> Table:
    out = Table(title=f"Overlord metrics ({source})", title_justify="left")
    out.add_column("metric")
    out.add_column("dimensions")
    out.add_column("value", justify="right")
    for row in found:
        labels = ", ".join(f"{k}={v}" for k, v in row["labels"].items() if k not in COMMON_LABELS)
        out.add_row(row["metric"], labels, _value(row))
    if not found:
        out.add_row("(nothing yet: submit a job)", "", "")
    return out


def stats(
    once: Annotated[bool, typer.Option("--once", help="print the table once and exit")] = False,
    every: Annotated[float, typer.Option(min=0.2, help="seconds between refreshes")] = 2.0,
    output: OutputOption = Output.table,
) -> None:
    """The local stack's metrics: what the handlers counted (GET /metrics), live."""
    api = _client()
    source = api.base_url + METRICS_PATH

    def fetch() -> list[dict[str, Any]]:
        try:
            answer = api.request("GET", METRICS_PATH)
        except OSError as exc:
            raise _fail(f"cannot reach {api.base_url}: {exc} (is `make dev` running?)") from None
        if answer.status == 404:
            raise _fail(
                f"{source}: not found. The local stack (`make dev`) serves its metrics; "
                "a deployment's are in CloudWatch (docs/operations.md, the dashboard)"
            )
        if answer.status != 200:
            raise _fail(f"{source}: {answer.status} {answer.detail}")
        return rows(answer.body if isinstance(answer.body, str) else "")

    if output is Output.json:
        _json(fetch())
        return
    if once:
        console.print(table(fetch(), source))
        return
    try:
        with Live(table(fetch(), source), console=console, auto_refresh=False) as live:
            while True:
                time.sleep(every)
                live.update(table(fetch(), source), refresh=True)
    except KeyboardInterrupt:
        pass
