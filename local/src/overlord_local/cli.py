"""The `overlord` command: run the local stack, submit jobs and follow them."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from overlord_local.devstack.running import http
from overlord_local.devstack.stack import DEFAULT_STATE_DIR

# The local stack's own loggers, as opposed to the hosted handlers' (which log JSON as
# in Lambda, with their job_id / request keys).
DEV_LOGGER = "overlord_local"

app = typer.Typer(
    help="Overlord: HTTP request → AWS Batch job, recorded in MongoDB.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err = Console(stderr=True)


def _api_url() -> str:
    """OVERLORD_API_URL, else the running dev stack's, else the default port."""
    if os.environ.get("OVERLORD_API_URL"):
        return os.environ["OVERLORD_API_URL"].rstrip("/")
    env_file = DEFAULT_STATE_DIR / "dev.env"
    if env_file.exists():
        for line in env_file.read_text().splitlines():
            if line.startswith("OVERLORD_API_URL="):
                return line.split("=", 1)[1]
    return "http://127.0.0.1:8080"


def _call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
    try:
        return http(method, _api_url() + path, body)
    except OSError as exc:
        err.print(f"[red]cannot reach {_api_url()}: {exc}[/] — is `make dev` running?")
        raise typer.Exit(1) from None


@app.command()
def dev(
    port: Annotated[int, typer.Option(envvar="OVERLORD_PORT", help="gateway port")] = 8080,
    rie: Annotated[bool, typer.Option(help="run the Lambdas under aws-lambda-rie")] = False,
    state_dir: Annotated[Path, typer.Option(help="where dev keeps its state")] = DEFAULT_STATE_DIR,
    db_name: Annotated[str, typer.Option(envvar="DB_NAME")] = "overlord",
    reconcile_every: Annotated[float, typer.Option(help="seconds; 0 turns it off")] = 60.0,
    max_vcpus: Annotated[int, typer.Option(help="the local compute environment's vCPUs")] = 4,
    timeout_scale: Annotated[
        float, typer.Option(help="multiply job timeouts (AWS's minimum is 60 s; tests use less)")
    ] = 1.0,
    fail_submit_rate: Annotated[
        float, typer.Option(help="share (0-1) of SubmitJob calls the local Batch fails (tests)")
    ] = 0.0,
    fail_submit_kinds: Annotated[
        str,
        typer.Option(help="throttle (429), 5xx (500, no job), 5xx-lost (500, the job runs anyway)"),
    ] = "throttle,5xx",
    fail_seed: Annotated[int | None, typer.Option(help="seed of the injected failures")] = None,
) -> None:
    """Run the whole flow on this machine (no Docker) until Ctrl-C."""
    from overlord_local.devstack.ferretdb import MongoUnavailable
    from overlord_local.devstack.stack import DevOptions, DevStack, StackError

    stack = DevStack(
        DevOptions(
            port=port,
            rie=rie,
            state_dir=state_dir,
            db_name=db_name,
            max_vcpus=max_vcpus,
            timeout_scale=timeout_scale,
            fail_submit_rate=fail_submit_rate,
            fail_submit_kinds=fail_submit_kinds,
            fail_seed=fail_seed,
            reconcile_every=reconcile_every,
        )
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with console.status("starting MongoDB, moto, the local Batch and the gateway…"):
        try:
            stack.start()
            _log_plainly(DEV_LOGGER)
        except (StackError, MongoUnavailable) as exc:
            err.print(f"[red]overlord dev: {exc}[/]", soft_wrap=True)
            raise typer.Exit(1) from None
    url = stack.api_url
    console.print(
        f"[green]Overlord is running[/] at {url}  "
        f"({'Lambda runtime emulator' if rie else 'handlers in-process'})"
    )
    console.print(
        f"  environment for other shells: {stack.env_file}  (set -a; . {stack.env_file}; set +a)"
    )
    console.print("Try:")
    console.print(
        f"  curl -sX POST {url}/jobs -H 'content-type: application/json' "
        """-d '{"task":"echo","parameters":{"message":"hello"}}'""",
        soft_wrap=True,
    )
    console.print(f"  curl -s {url}/jobs/<job_id>")
    console.print("  .venv/bin/overlord submit echo -p message=hello --wait")
    console.print("Ctrl-C stops everything.")
    try:
        stop.wait()
    finally:
        with console.status("stopping…"):
            stack.stop()
        console.print("stopped")


def _log_plainly(name: str) -> None:
    """The stack's lines as plain text on stderr, apart from the handlers' JSON lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    stack_logger = logging.getLogger(name)
    stack_logger.handlers = [handler]
    stack_logger.propagate = False
    stack_logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))


def _parse_param(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep:
        raise typer.BadParameter(f"{text!r}: expected key=value")
    try:
        return key, json.loads(raw)
    except ValueError:
        return key, raw


@app.command()
def submit(
    task: str,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="key=value (value parsed as JSON if it is)"),
    ] = None,
    parameters: Annotated[str | None, typer.Option(help="the whole parameters as JSON")] = None,
    attempts: int = 1,
    timeout_seconds: Annotated[int | None, typer.Option()] = None,
    wait: Annotated[bool, typer.Option(help="wait until the job finishes")] = False,
) -> None:
    """Submit a job and print its ID."""
    params = json.loads(parameters) if parameters else dict(_parse_param(p) for p in param or [])
    body: dict[str, Any] = {"task": task, "parameters": params, "attempts": attempts}
    if timeout_seconds:
        body["timeout_seconds"] = timeout_seconds
    status, result = _call("POST", "/jobs", body)
    if status >= 400:
        err.print(f"[red]{status}: {result.get('message') if result else ''}[/]")
        raise typer.Exit(1)
    console.print_json(data=result)
    if wait:
        _wait(result["job_id"])


def _wait(job_id: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    with console.status(f"{job_id}: waiting") as progress:
        while time.monotonic() < deadline:
            _, job = _call("GET", f"/jobs/{job_id}")
            progress.update(f"{job_id}: {job['status']}")
            if job["status"] in {"SUCCEEDED", "FAILED", "SUBMIT_FAILED"}:
                break
            time.sleep(0.5)
    console.print_json(
        data={"job_id": job_id, "status": job["status"], "result": job.get("result")}
    )
    if job["status"] != "SUCCEEDED":
        raise typer.Exit(1)


@app.command()
def get(job_id: str) -> None:
    """Show a job with its latest run."""
    status, job = _call("GET", f"/jobs/{job_id}")
    console.print_json(data=job)
    if status != 200:
        raise typer.Exit(1)


@app.command()
def logs(job_id: str, run: Annotated[str | None, typer.Option(help="a run ID")] = None) -> None:
    """Print a job's log lines."""
    offset: int | None = 0
    while offset is not None:
        query = f"?offset={offset}" + (f"&run={run}" if run else "")
        status, page = _call("GET", f"/jobs/{job_id}/logs{query}")
        if status != 200:
            err.print(f"[red]{status}: {page.get('message')}[/]")
            raise typer.Exit(1)
        for line in page["lines"]:
            console.print(
                f"{line['ts']} [{line['kind']}:{line['attempt']}] {line['message']}",
                markup=False,
                highlight=False,
            )
        offset = page["next_offset"]


if __name__ == "__main__":
    app()
