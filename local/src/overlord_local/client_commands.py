"""`overlord submit | status | list | runs | logs | rerun | cancel`: the API from a shell.

Every request is signed with SigV4 (overlord_local.client). Exit codes: 0 the job
succeeded (or the command did what it was asked), 1 the job failed or was cancelled,
2 a usage error, an API refusal or no connection, with a message saying which.
"""

from __future__ import annotations

import json
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from overlord_local.client import ApiClient, NoCredentials, Query, from_environment
from overlord_local.devstack.stack import DEFAULT_STATE_DIR
from overlord_local.loglines import shown

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)
FINISHED = {"SUCCEEDED", "FAILED", "SUBMIT_FAILED"}
USAGE, FAILED = 2, 1
POLL_SECONDS = 0.5
# Events are delivered in any order (EventBridge, SQS, the local router's threads): a
# state line can be stored after the terminal one. A follower waiting for the end goes on
# reading until this long has passed since the end with no new line.
SETTLE_SECONDS = 2.0


class Output(StrEnum):
    table = "table"
    json = "json"


OutputOption = Annotated[
    Output, typer.Option("--output", "-o", help="json for scripts; table (or text) for people")
]


def _fail(message: str, code: int = USAGE) -> typer.Exit:
    err.print(f"[red]overlord: {message}[/]", soft_wrap=True)
    return typer.Exit(code)


def _client() -> ApiClient:
    try:
        return from_environment(DEFAULT_STATE_DIR / "dev.env")
    except NoCredentials as exc:
        raise _fail(str(exc)) from None


def _call(api: ApiClient, method: str, path: str, *, query: Query = None, body: Any = None) -> Any:
    try:
        answer = api.request(method, path, query=query, body=body)
    except OSError as exc:
        raise _fail(f"cannot reach {api.base_url}: {exc} (is `make dev` running?)") from None
    if answer.status == 403:
        raise _fail(f"403 from {api.base_url}: the request's SigV4 signature was refused")
    if answer.status >= 400:
        raise _fail(f"{answer.status}: {answer.detail}")
    return answer.body


def _json(data: Any) -> None:
    console.print_json(data=data)


def _kv(text: str, option: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise typer.BadParameter(f"{text!r}: expected key=value", param_hint=option)
    return key, value


def _parameters(param: list[str] | None, parameters_file: str | None) -> dict[str, Any]:
    if parameters_file:
        try:
            text = sys.stdin.read() if parameters_file == "-" else Path(parameters_file).read_text()
            loaded = json.loads(text)
        except (OSError, ValueError) as exc:
            raise typer.BadParameter(str(exc), param_hint="--parameters-file") from None
        if not isinstance(loaded, dict):
            raise typer.BadParameter("must hold a JSON object", param_hint="--parameters-file")
        params: dict[str, Any] = loaded
    else:
        params = {}
    for item in param or []:
        key, raw = _kv(item, "--param")
        try:
            params[key] = json.loads(raw)  # numbers, booleans, objects as JSON ...
        except ValueError:
            params[key] = raw  # ... anything else as a string
    return params


def _items(source: str) -> list[Any]:
    """--items: a JSON list, or JSON Lines (one item per line); ``-`` reads stdin. Each
    item is checked by the API against the task's schema (its errors say ``items[i]``)."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--items") from None
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except ValueError as exc:
            raise typer.BadParameter(
                f"{source}: not a JSON list: {exc}", param_hint="--items"
            ) from None
    else:
        items = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except ValueError as exc:
                    raise typer.BadParameter(
                        f"{source} line {number}: not JSON: {exc}", param_hint="--items"
                    ) from None
    if not items:
        raise typer.BadParameter(f"{source}: holds no items", param_hint="--items")
    return list(items)


# ----------------------------------------------------------------------- following


def _elapsed(start: float) -> str:
    return f"+{time.monotonic() - start:5.1f}s"


def _message(line: dict[str, Any]) -> Text:
    """The line's message, its level aside; never read as markup (lines are the job's)."""
    found = shown(line)
    kind = line["kind"]
    text = Text()
    if kind == "state":
        text.append(found.message, style="bold")
    elif kind == "log":
        level = found.level or ""
        text.append(f"{level:<7} ", style=_LEVEL_STYLES.get(level, "dim"))
        text.append(found.message)
        if found.exception:
            text.append("\n" + found.exception, style="red")
    else:
        text.append(found.message, style="dim")
    return text


_LEVEL_STYLES = {"ERROR": "red", "CRITICAL": "red", "WARNING": "yellow", "DEBUG": "dim"}


def _print_line(line: dict[str, Any], start: float) -> None:
    text = Text(_elapsed(start), style="dim")
    text.append("  ")
    text.append_text(_message(line))
    console.print(text, soft_wrap=True)


def _print_json_line(line: dict[str, Any]) -> None:
    console.print(json.dumps(line), markup=False, highlight=False, soft_wrap=True)


def follow(
    api: ApiClient,
    job_id: str,
    run_number: int | None,
    *,
    wait: bool,
    index: int | None = None,
    as_json: bool = False,
) -> dict[str, Any]:
    """Print lines as they arrive (states as the run moves, a running attempt's lines as
    they are written, the result); with `wait`, until the job has finished. Returns the
    job as last seen."""
    start = time.monotonic()
    cursor: str | None = None
    quiet_since: float | None = None  # the job had finished and no line came since
    with console.status(f"{job_id}: …") as spinner:
        while True:
            job = _call(api, "GET", f"/jobs/{job_id}")
            new_lines = 0
            while True:  # every line there is now
                page = _call(
                    api,
                    "GET",
                    f"/jobs/{job_id}/logs",
                    query={"run": run_number, "index": index, "cursor": cursor, "limit": 1000},
                )
                for line in page["lines"]:
                    if as_json:
                        _print_json_line(line)
                    else:
                        _print_line(line, start)
                new_lines += len(page["lines"])
                cursor = page["resume"]
                if not page["next"]:
                    break
            spinner.update(f"{job_id}: {job['status']}  {time.monotonic() - start:.1f}s")
            if not wait:
                return dict(job)
            if job["status"] in FINISHED:
                now = time.monotonic()
                if quiet_since is None or new_lines:
                    quiet_since = now
                elif now - quiet_since >= SETTLE_SECONDS:
                    return dict(job)
            time.sleep(POLL_SECONDS)


def _outcome(job: dict[str, Any]) -> int:
    latest = job.get("latest_run") or {}
    cancel = latest.get("cancel")
    status = job["status"]
    if status == "SUCCEEDED":
        console.print(f"[green]SUCCEEDED[/] {job['job_id']}")
        result = (job.get("result") or {}).get("summary")
        if result is not None:
            _json(result)
        return 0
    if cancel:
        console.print(
            f"[yellow]CANCELLED[/] {job['job_id']} by {cancel.get('by') or '?'} "
            f"({cancel['action']}): {cancel['reason']}",
            markup=True,
        )
    else:
        reason = job.get("status_reason") or latest.get("status_reason")
        console.print(f"[red]{status}[/] {job['job_id']}" + (f": {reason}" if reason else ""))
    result = (job.get("result") or {}).get("summary")
    if result is not None:
        _json(result)
    return FAILED


def _finish(
    api: ApiClient,
    job_id: str,
    run_number: int | None,
    index: int | None = None,
    as_json: bool = False,
) -> None:
    job = follow(api, job_id, run_number, wait=True, index=index, as_json=as_json)
    if as_json:
        raise typer.Exit(0 if job["status"] == "SUCCEEDED" else FAILED)
    raise typer.Exit(_outcome(job))


def follow_array(api: ApiClient, job_id: str, size: int) -> dict[str, Any]:
    """A progress bar (on stderr) of the array's children done, from GET /jobs/{id}'s
    ``array.counts``, until the job has finished. Returns the job as last seen."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err) as progress:
        bar = progress.add_task(job_id, total=size, detail="")
        while True:
            job: dict[str, Any] = _call(api, "GET", f"/jobs/{job_id}")
            array = job.get("array") or {}
            counts = array.get("counts") or {}
            failed = counts.get("FAILED", 0)
            running = counts.get("STARTING", 0) + counts.get("RUNNING", 0)
            progress.update(
                bar,
                total=array.get("size") or size,
                completed=counts.get("SUCCEEDED", 0) + failed,
                detail=f"{failed} failed, {running} running  {job['status']}",
            )
            if job["status"] in FINISHED:
                return job
            time.sleep(POLL_SECONDS)


def _array_outcome(job: dict[str, Any]) -> int:
    array = job.get("array") or {}
    failed = array.get("failed_indices") or []
    code = _outcome(job)
    if failed:
        shown = ", ".join(str(i) for i in failed[:20]) + (", …" if len(failed) > 20 else "")
        console.print(f"  {len(failed)} of {array.get('size', '?')} failed: {shown}")
        console.print(f"  one child's lines: overlord logs {job['job_id']} --index {failed[0]}")
    return code


# ------------------------------------------------------------------------ commands


def submit(
    task: Annotated[str, typer.Argument(help="the task's name, e.g. echo")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="key=value, repeatable (value parsed as JSON if it is)"),
    ] = None,
    parameters_file: Annotated[
        str | None, typer.Option(help="a JSON object file with the parameters, or - for stdin")
    ] = None,
    items: Annotated[
        str | None,
        typer.Option(
            help="an array job: a file of parameter objects, one per child, as a JSON list "
            "or JSON Lines (- for stdin)"
        ),
    ] = None,
    key: Annotated[str | None, typer.Option(help="makes an otherwise identical job new")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="key=value, repeatable")] = None,
    attempts: Annotated[int | None, typer.Option(min=1, max=10)] = None,
    timeout_seconds: Annotated[int | None, typer.Option(min=60)] = None,
    wait: Annotated[
        bool | None,
        typer.Option(
            "--wait/--no-wait",
            help="follow the job until it finishes (default: only with --items, as a "
            "progress bar of children done)",
            show_default=False,
        ),
    ] = None,
    output: OutputOption = Output.table,
) -> None:
    """Submit a job, or an array job with --items; print its ID (and while it runs, its
    progress and then its result)."""
    if items is not None and (param or parameters_file):
        raise typer.BadParameter(
            "give --items or parameters (--param/--parameters-file), not both",
            param_hint="--items",
        )
    body: dict[str, Any] = {"task": task}
    if items is not None:
        body["items"] = _items(items)
    else:
        body["parameters"] = _parameters(param, parameters_file)
    if key is not None:
        body["key"] = key
    if tag:
        body["tags"] = dict(_kv(t, "--tag") for t in tag)
    if attempts is not None:
        body["attempts"] = attempts
    if timeout_seconds is not None:
        body["timeout_seconds"] = timeout_seconds
    api = _client()
    created = _call(api, "POST", "/jobs", body=body)
    if output is Output.json:
        _json(created)
    else:
        verb = "submitted" if created["created"] else "exists"
        size = f", {len(body['items'])} children" if items is not None else ""
        console.print(f"{created['job_id']} {verb} ({created['status']}{size})")
    if items is None:
        if wait:
            _finish(api, created["job_id"], None)
        return
    if wait is not False:
        job = follow_array(api, created["job_id"], len(body["items"]))
        if output is Output.json:
            _json(job)
            raise typer.Exit(0 if job["status"] == "SUCCEEDED" else FAILED)
        raise typer.Exit(_array_outcome(job))


def status(job_id: str, output: OutputOption = Output.table) -> None:
    """A job and its latest run."""
    job = _call(_client(), "GET", f"/jobs/{job_id}")
    if output is Output.json:
        _json(job)
        return
    latest = job.get("latest_run") or {}
    console.print(f"[bold]{job['job_id']}[/]  {job['task']}  [bold]{job['status']}[/]")
    if job.get("status_reason"):
        console.print(f"  reason: {job['status_reason']}", markup=False)
    console.print(f"  created {job['created_at']} by {job.get('created_by') or '?'}")
    console.print(f"  runs: {job['run_count']}  parameters: {json.dumps(job['parameters'])}")
    for step in latest.get("status_history", []):
        console.print(f"    {step['at']}  {step['status']}")
    if job.get("result"):
        _json(job["result"])


def list_jobs(
    status: Annotated[str | None, typer.Option(help="e.g. SUCCEEDED")] = None,
    task: Annotated[str | None, typer.Option()] = None,
    tag: Annotated[list[str] | None, typer.Option(help="key=value, repeatable")] = None,
    created_after: Annotated[str | None, typer.Option(help="ISO 8601 with a zone")] = None,
    created_before: Annotated[str | None, typer.Option(help="ISO 8601 with a zone")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="jobs per page")] = 20,
    all_pages: Annotated[
        bool, typer.Option("--all", help="every page, not only the first")
    ] = False,
    output: OutputOption = Output.table,
) -> None:
    """Jobs, newest first."""
    api = _client()
    tags = [":".join(_kv(t, "--tag")) for t in tag or []]
    query: dict[str, Any] = {
        "status": status,
        "task": task,
        "tag": tags,
        "created_after": created_after,
        "created_before": created_before,
        "limit": limit,
    }
    jobs: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = _call(api, "GET", "/jobs", query={**query, "cursor": cursor})
        jobs += page["jobs"]
        cursor = page["next"]
        if not (all_pages and cursor):
            break
    if output is Output.json:
        _json({"jobs": jobs, "next": cursor})
        return
    table = Table(box=None)
    table.add_column("JOB ID", no_wrap=True, min_width=36)  # whole: people copy it
    for name in ("TASK", "STATUS", "CREATED", "RUNS"):
        table.add_column(name)
    for job in jobs:
        table.add_row(
            job["job_id"], job["task"], job["status"], job["created_at"], str(job["run_count"])
        )
    console.print(table)
    if cursor:
        console.print("[dim]more: --all, or --created-before with the last CREATED[/]")


def runs(job_id: str, output: OutputOption = Output.table) -> None:
    """Every run of a job."""
    found = _call(_client(), "GET", f"/jobs/{job_id}/runs")
    if output is Output.json:
        _json(found)
        return
    table = Table(
        "RUN", "BATCH JOB", "STATUS", "STARTED", "STOPPED", "ATTEMPTS", "REASON", box=None
    )
    for run in found["runs"]:
        table.add_row(
            str(run["run"]),
            run["batch_job_id"],
            str(run["status"]),
            run["started_at"] or "",
            run["stopped_at"] or "",
            str(len(run["attempts"])),
            run["status_reason"] or "",
        )
    console.print(table)


def logs(
    job_id: str,
    run: Annotated[int | None, typer.Option(help="a run number (default: every run)")] = None,
    kind: Annotated[list[str] | None, typer.Option(help="submission|state|log|result")] = None,
    index: Annotated[
        int | None, typer.Option(min=0, help="an array job's child (its item's index)")
    ] = None,
    follow_: Annotated[
        bool, typer.Option("--follow", "-f", help="keep printing until the job finishes")
    ] = False,
    output: OutputOption = Output.table,
) -> None:
    """A job's lines in reading order."""
    api = _client()
    if follow_:
        _finish(api, job_id, run, index, as_json=output is Output.json)
    cursor = None
    while True:
        page = _call(
            api,
            "GET",
            f"/jobs/{job_id}/logs",
            query={
                "run": run,
                "index": index,
                "kind": kind or [],
                "cursor": cursor,
                "limit": 1000,
            },
        )
        for line in page["lines"]:
            if output is Output.json:
                _print_json_line(line)
            else:
                text = Text(f"{line['ts']} ", style="dim")
                text.append(f"{line['kind']:<10} run {line['run']} attempt {line['attempt']}  ")
                text.append_text(_message(line))
                console.print(text, soft_wrap=True)
        cursor = page["next"]
        if not cursor:
            return


def rerun(
    job_id: str,
    wait: Annotated[bool, typer.Option(help="follow the new run until it finishes")] = False,
    output: OutputOption = Output.table,
) -> None:
    """Run a finished job again."""
    api = _client()
    started = _call(api, "POST", f"/jobs/{job_id}/runs")
    if output is Output.json:
        _json(started)
    else:
        console.print(f"{job_id} run {started['run']} submitted ({started['batch_job_id']})")
    if wait:
        _finish(api, job_id, started["run"])


def cancel(
    job_id: str,
    reason: Annotated[str | None, typer.Option(help="kept on the run and sent to Batch")] = None,
    wait: Annotated[bool, typer.Option(help="wait until Batch has stopped it")] = False,
    output: OutputOption = Output.table,
) -> None:
    """Cancel the job's active run (CancelJob before it starts, TerminateJob after)."""
    api = _client()
    done = _call(api, "POST", f"/jobs/{job_id}/cancel", body={"reason": reason} if reason else None)
    if output is Output.json:
        _json(done)
    else:
        console.print(f"{job_id} run {done['run']}: {done['action']} sent ({done['reason']})")
    if wait:
        _finish(api, job_id, done["run"])


def register(app: typer.Typer) -> None:
    app.command()(submit)
    app.command()(status)
    app.command("list")(list_jobs)
    app.command()(runs)
    app.command()(logs)
    app.command()(rerun)
    app.command()(cancel)
