"""The `overlord` command: run the local stack, submit jobs and follow them."""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from overlord_local import client_commands, stats_command
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
client_commands.register(app)
app.command()(stats_command.stats)


@app.command()
def dev(
    port: Annotated[int, typer.Option(envvar="OVERLORD_PORT", help="gateway port")] = 8080,
    rie: Annotated[bool, typer.Option(help="run the Lambdas under aws-lambda-rie")] = False,
    state_dir: Annotated[Path, typer.Option(help="where dev keeps its state")] = DEFAULT_STATE_DIR,
    db_name: Annotated[str, typer.Option(envvar="DB_NAME")] = "overlord",
    reconcile_every: Annotated[float, typer.Option(help="seconds; 0 turns it off")] = 60.0,
    max_vcpus: Annotated[int, typer.Option(help="the local compute environment's vCPUs")] = 4,
    event_workers: Annotated[
        int,
        typer.Option(
            min=1, help="Batch events delivered to the recorder at once (EventBridge: many)"
        ),
    ] = 4,
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
    chaos: Annotated[
        bool,
        typer.Option(
            "--chaos",
            envvar="OVERLORD_CHAOS",
            help="deliver events duplicated, delayed and reordered, and hold SubmitJob's "
            "answers, as AWS may (README, 'Chaos')",
        ),
    ] = False,
    chaos_seed: Annotated[
        int | None,
        typer.Option(envvar="OVERLORD_CHAOS_SEED", help="seed of the chaos (default: a new one)"),
    ] = None,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="accept unsigned requests (no SigV4 check)")
    ] = False,
    fresh_workers: Annotated[
        bool,
        typer.Option(
            "--fresh-workers",
            help="start every job as a fresh interpreter, as AWS does (default: forked "
            "from a warm one, several times faster for arrays)",
        ),
    ] = False,
) -> None:
    """Run the whole flow on this machine (no Docker) until Ctrl-C."""
    from overlord_local.chaos import Chaos, new_seed
    from overlord_local.devstack.ferretdb import MongoUnavailable
    from overlord_local.devstack.stack import DevOptions, DevStack, StackError

    stack = DevStack(
        DevOptions(
            port=port,
            rie=rie,
            state_dir=state_dir,
            db_name=db_name,
            max_vcpus=max_vcpus,
            event_workers=event_workers,
            timeout_scale=timeout_scale,
            fail_submit_rate=fail_submit_rate,
            fail_submit_kinds=fail_submit_kinds,
            fail_seed=fail_seed,
            chaos=Chaos(seed=new_seed() if chaos_seed is None else chaos_seed) if chaos else None,
            reconcile_every=reconcile_every,
            auth=not no_auth,
            fresh_workers=fresh_workers,
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
    if stack.options.chaos is not None:
        err.print(f"[bold yellow]{stack.options.chaos.describe()}[/]", soft_wrap=True)
    console.print(
        f"  environment for other shells: {stack.env_file}  (set -a; . {stack.env_file}; set +a)"
    )
    if no_auth:
        err.print(
            "[bold red]!! --no-auth: the API accepts UNSIGNED requests from anyone who can "
            "reach it. The deployed API never does. !![/]"
        )
        sign = ""
    else:
        console.print(
            "  every request but /health must be signed with SigV4 by the credentials in "
            f"{stack.env_file}"
        )
        sign = (
            ' --aws-sigv4 "aws:amz:us-east-1:execute-api"'
            ' --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"'
        )
    console.print("Try:")
    console.print(
        f"  curl -sX POST {url}/jobs{sign} -H 'content-type: application/json' "
        """-d '{"task":"echo","parameters":{"message":"hello"}}'""",
        soft_wrap=True,
        markup=False,
    )
    console.print(f"  curl -s{sign} {url}/jobs/<job_id>", soft_wrap=True, markup=False)
    console.print("  .venv/bin/overlord submit echo -p message=hello --wait")
    console.print(f"  .venv/bin/overlord stats    (the handlers' metrics; also {url}/metrics)")
    console.print("Ctrl-C stops everything.")
    try:
        stop.wait()
    finally:
        with console.status("stopping…"):
            stack.stop()
        console.print("stopped")


@app.command()
def ui(
    api: Annotated[
        str | None,
        typer.Option(
            "--api",
            help="the API's URL (default: OVERLORD_API_URL, else the running `overlord dev`)",
        ),
    ] = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="the console's port")] = 8787,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="do not open a browser tab")
    ] = False,
) -> None:
    """A web console on http://127.0.0.1:PORT: jobs, runs, arrays and live logs.

    Requests to the API are signed with your AWS credentials (botocore's chain, or the
    dev stack's own for `make dev`); the browser never sees them."""
    from overlord_local.client import NoCredentials, from_environment
    from overlord_local.ui.server import serve

    try:
        client = from_environment(DEFAULT_STATE_DIR / "dev.env", url=api)
    except NoCredentials as exc:
        err.print(f"[red]overlord: {exc}[/]")
        raise typer.Exit(2) from None
    console.print(
        f"Overlord console on http://127.0.0.1:{port}/jobs for {client.base_url} (Ctrl-C stops)",
        markup=False,
        soft_wrap=True,
    )
    serve(client, port, open_browser=not no_browser)


def _log_plainly(name: str) -> None:
    """The stack's lines as plain text on stderr, apart from the handlers' JSON lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    stack_logger = logging.getLogger(name)
    stack_logger.handlers = [handler]
    stack_logger.propagate = False
    stack_logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))


if __name__ == "__main__":
    app()
