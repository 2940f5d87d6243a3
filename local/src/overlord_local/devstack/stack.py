"""`make dev`: the whole flow on one machine, no Docker (README, "make dev").

HTTP → local gateway → submitter → local Batch (process executor) → worker →
Batch Job State Change → event router → recorder → MongoDB, with moto server for
S3 / CloudWatch Logs / IAM and FerretDB (or MONGODB_URI) for MongoDB.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any

from overlord_local import provision as aws_bootstrap
from overlord_local.chaos import Chaos
from overlord_local.devstack.ferretdb import FerretDB
from overlord_local.devstack.gotools import RIE, ToolMissing, ensure
from overlord_local.devstack.processes import (
    PROJECT_ROOT,
    free_port,
    port_open,
    stop_process,
    wait_until,
)
from overlord_local.lambdas import invoke_in_process, invoke_url, invoke_url_for, load_handler
from overlord_local.metrics import EmfCollector, StdoutTee
from overlord_local.pdeathsig import die_with_parent

log = logging.getLogger(__name__)

DEFAULT_STATE_DIR = PROJECT_ROOT / ".overlord"
REGION = "us-east-1"
ACCESS_KEY_ID = "overlord-local"


def stack_credentials() -> dict[str, str]:
    """The stack's own credentials, a new secret at each start: the gateway accepts
    requests signed with them only, and moto and the handlers use them too (never the
    caller's real AWS credentials). Written to dev.env (mode 600) for other shells."""
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }


# The product's functions, by name only (as their images' CMD names them): the local
# stack hosts them as Lambda does and imports none of the product's modules.
SUBMITTER_HANDLER = "overlord_submitter.handler.lambda_handler"
RECORDER_HANDLER = "overlord_recorder.handler.lambda_handler"
RECONCILE_HANDLER = "overlord_recorder.handler.reconcile_handler"
# Called when the stack stops, so that the hosted handlers' clients (pymongo's monitor
# threads) do not hold the process open.
HOSTED_SHUTDOWN = "overlord.runtime.wiring.reset"
# The image the catalogue's Python tasks name here: the process executor runs them in
# this virtualenv, and refuses any other image.
WORKER_IMAGE = "overlord-worker:local"
# What the worker imports that costs: loaded once by the process executor's fork
# server, not once per job (docs/performance.md, "Arrays on make dev"). Third-party
# only: the product's modules read the job's environment when imported. The list is
# what `python -m overlord_worker` (echo, an array child) adds to sys.modules, and the
# botocore data its S3 client reads (overlord_local.botocore_warm).
WORKER_PRELOAD = (
    "boto3",
    "botocore.session",
    "s3transfer.manager",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.logging.utils",
    "aws_lambda_powertools.logging.buffer.handler",
    "jsonschema",
    "jsonschema.validators",
    "jsonschema_specifications",
    # The product's own modules compiled once (each job still imports them).
    "overlord_local.code_cache",
    # Last: one botocore data loader, filled once, for every job's sessions.
    "overlord_local.botocore_warm",
)


def _reset_hosted() -> None:
    """Run HOSTED_SHUTDOWN if this process has loaded the product (in-process handlers)."""
    module_name, _, function = HOSTED_SHUTDOWN.rpartition(".")
    if module_name in sys.modules:
        getattr(sys.modules[module_name], function)()


class StackError(RuntimeError):
    """The stack cannot start; the message says why and what to do."""


@dataclass
class DevOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    state_dir: Path = DEFAULT_STATE_DIR
    rie: bool = False
    db_name: str = "overlord"
    job_queue: str = "overlord"
    results_bucket: str = "overlord-results"
    max_vcpus: int = 4
    # The recorder's event source mapping, as Terraform sets it (terraform/modules/
    # functions): batches of up to `event_batch_size`, filled for up to
    # `event_batch_window` s, `event_workers` batches at once (its maximum_concurrency).
    event_workers: int = 4
    event_batch_size: int = 10
    event_batch_window: float = 0.5
    # The queue's redrive: a message not deleted comes back after this many seconds
    # (AWS: 6 x the recorder's timeout; shorter here to see retries), dead-lettered
    # after `event_max_receives` receives.
    event_visibility_timeout: float = 30.0
    event_max_receives: int = 5
    timeout_scale: float = 1.0
    # Injected SubmitJob failures of the local Batch (localbatch.faults); 0 = none.
    fail_submit_rate: float = 0.0
    fail_submit_kinds: str = "throttle,5xx"
    fail_seed: int | None = None
    # Duplicated, delayed, reordered events and held SubmitJob answers (overlord_local.chaos).
    chaos: Chaos | None = None
    reconcile_every: float = 60.0
    reconcile_after_seconds: int = 300
    log_level: str = "INFO"
    auth: bool = True  # the gateway checks SigV4 (False: overlord dev --no-auth)
    # Every job a fresh interpreter, as on AWS (overlord dev --fresh-workers); by
    # default Python jobs fork from a warm one (overlord_local.forkserver).
    fresh_workers: bool = False


@dataclass
class DevStack:
    options: DevOptions
    env: dict[str, str] = field(default_factory=dict)
    api_url: str = ""
    event_mapping: Any = None  # the recorder's event source mapping, once started
    # The hosted handlers' metrics (their EMF lines): GET /metrics, `overlord stats`.
    metrics: EmfCollector = field(default_factory=EmfCollector)
    _cleanups: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _stopping: threading.Event = field(default_factory=threading.Event)

    # ---------------------------------------------------------------- start
    def start(self) -> DevStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        o = self.options
        o.state_dir.mkdir(parents=True, exist_ok=True)
        self._lock()
        # Last out: the hosted handlers' clients.
        self._cleanups.callback(_reset_hosted)
        self._collect_stdout()
        if port_open(o.host, o.port):
            raise StackError(f"port {o.port} is in use; set OVERLORD_PORT to another port")

        mongodb_uri = os.environ.get("MONGODB_URI") or self._start_ferretdb()
        aws_endpoint = os.environ.get("AWS_ENDPOINT_URL") or self._start_moto()
        credentials = stack_credentials()
        self._export(
            MONGODB_URI=mongodb_uri,
            DB_NAME=o.db_name,
            JOB_QUEUE=o.job_queue,
            # Jobs run as local processes: the submitter refuses image tasks with a 400.
            IMAGE_TASKS="false",
            RESULTS_BUCKET=o.results_bucket,
            LOG_LEVEL=o.log_level,
            RECONCILE_AFTER_SECONDS=str(o.reconcile_after_seconds),
            # The local Batch lists a job as soon as it creates it: a lost SubmitJob
            # answer holds the claim 2 s, not AWS's 60.
            BATCH_LIST_DELAY_SECONDS="2",
            # No X-Ray daemon here: tracing off unless the caller turned it on.
            POWERTOOLS_TRACE_DISABLED=os.environ.get("POWERTOOLS_TRACE_DISABLED", "true"),
            AWS_ENDPOINT_URL=aws_endpoint,
            **credentials,
        )
        if o.chaos is not None:
            log.info("%s", o.chaos.describe())  # overlord dev prints it
        router = self._start_router()
        self._export(AWS_ENDPOINT_URL_BATCH=self._start_local_batch(router.put))
        _reset_hosted()  # handlers already loaded in this process rebuild their clients

        aws_bootstrap.ensure_bucket(o.results_bucket)
        aws_bootstrap.ensure_log_group()
        queue_arn = aws_bootstrap.ensure_batch(
            o.job_queue, aws_bootstrap.load_definitions(WORKER_IMAGE), o.max_vcpus
        )

        from overlord_local.apigateway.gateway import GatewayServer, in_process, via_url
        from overlord_local.apigateway.sigv4 import Verifier
        from overlord_local.eventrouter import load_batch_pattern

        if o.rie:
            submitter: Any = via_url(self._start_rie("submitter", SUBMITTER_HANDLER))
            recorder = self._start_rie("recorder", RECORDER_HANDLER)
            invoke_recorder: Callable[[dict[str, Any]], Any] = partial(invoke_url, recorder)
        else:
            submitter = in_process(load_handler(SUBMITTER_HANDLER))
            invoke_recorder = partial(
                invoke_in_process, load_handler(RECORDER_HANDLER), name="overlord-recorder"
            )
        events = self._start_event_queue(invoke_recorder)
        router.add_rule(load_batch_pattern(queue_arn), events, name="batch-state-change")

        try:
            verifier = Verifier(
                credentials["AWS_ACCESS_KEY_ID"], credentials["AWS_SECRET_ACCESS_KEY"], REGION
            )
            gateway = GatewayServer(
                o.host,
                o.port,
                submitter,
                verifier if o.auth else None,
                metrics=self.metrics.exposition,
            )
            gateway.start()
        except OSError as exc:
            raise StackError(f"cannot listen on {o.host}:{o.port}: {exc}") from None
        self._cleanups.callback(gateway.stop)
        self.api_url = f"http://{o.host}:{gateway.port}"
        self.env["OVERLORD_API_URL"] = self.api_url  # for other shells only
        self._start_reconcile()
        self._write_env_file()

    def _collect_stdout(self) -> None:
        """The in-process handlers print their EMF lines to this process's stdout."""
        tee = StdoutTee(sys.stdout, self.metrics)
        sys.stdout = tee

        def restore() -> None:
            if sys.stdout is tee:
                sys.stdout = tee.stream

        self._cleanups.callback(restore)

    def _export(self, **values: str) -> None:
        """Set for the handlers in this process and record for dev.env and the emulators."""
        self.env.update(values)
        os.environ.update(values)

    def _lock(self) -> None:
        lock_path = self.options.state_dir / "dev.lock"
        handle: IO[str] = open(lock_path, "a+")  # noqa: SIM115 - held while running
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            pid = handle.read().strip() or "?"
            handle.close()
            raise StackError(
                f"a dev stack is already running (pid {pid}, state in {self.options.state_dir});"
                " stop it first (Ctrl-C in its terminal, or kill " + pid + ")"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()

        def release() -> None:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

        self._cleanups.callback(release)

    def _start_ferretdb(self) -> str:
        server = FerretDB(self.options.state_dir / "ferretdb")
        self._cleanups.callback(server.stop)
        return server.start()

    def _start_moto(self) -> str:
        from overlord_local.devstack.motoserver import MotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        port = free_port()
        server = MotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        self._cleanups.callback(server.stop)
        return f"http://127.0.0.1:{port}"

    def _start_router(self) -> Any:
        from overlord_local.eventrouter import EventRouter

        router = EventRouter(
            dead_letter_path=self.options.state_dir / "dead-letters.jsonl",
            chaos=self.options.chaos,
        )
        # LIFO: the local Batch stops, the router hands its last events to the queue,
        # then the recorder's mapping drains the queue.
        self._cleanups.callback(self._stop_event_mapping)
        self._cleanups.callback(router.stop)
        return router

    def _start_event_queue(self, invoke_recorder: Callable[[dict[str, Any]], Any]) -> Any:
        """The Batch rule's SQS queue (in memory) and the recorder's event source
        mapping on it; returns the router's target for the queue."""
        from overlord_local.eventrouter import EventSourceMapping, MemoryQueue, QueueTarget

        o = self.options
        queue = MemoryQueue(
            visibility_timeout=o.event_visibility_timeout,
            max_receive_count=o.event_max_receives,
            dead_letter_path=o.state_dir / "dead-letters.jsonl",
        )
        mapping = EventSourceMapping(
            queue,
            invoke_recorder,
            batch_size=o.event_batch_size,
            window=o.event_batch_window,
            concurrency=o.event_workers,
        ).start()
        self.event_mapping = mapping  # stopped after the router (_start_router)
        return QueueTarget(queue)

    def _stop_event_mapping(self) -> None:
        if self.event_mapping is not None:
            self.event_mapping.stop()

    def _start_local_batch(self, on_event: Callable[[dict[str, Any]], None]) -> str:
        from overlord_local.localbatch import (
            LocalBatchServer,
            ProcessExecutor,
            SubmitFaults,
            Timings,
        )
        from overlord_local.localbatch.faults import parse_kinds

        o = self.options
        faults = None
        if o.fail_submit_rate:
            try:
                faults = SubmitFaults(
                    o.fail_submit_rate, parse_kinds(o.fail_submit_kinds), o.fail_seed
                )
            except ValueError as exc:
                raise StackError(f"--fail-submit-*: {exc}") from None
            log.warning("the local Batch fails SubmitJob on purpose: %r", faults)
        server = LocalBatchServer(
            ProcessExecutor(
                cwd=str(PROJECT_ROOT),
                only_images={WORKER_IMAGE},
                preload=() if self.options.fresh_workers else WORKER_PRELOAD,
            ),
            on_event=on_event,
            timings=Timings(timeout_scale=self.options.timeout_scale),
            extra_environment={
                "RESULTS_BUCKET": self.options.results_bucket,
                "LOG_LEVEL": self.options.log_level,
            },
            submit_faults=faults,
            chaos=o.chaos,
        ).start()
        self._cleanups.callback(server.stop)
        return str(server.endpoint_url)

    def _start_rie(self, name: str, handler: str) -> str:
        """One Lambda under the Runtime Interface Emulator, as its container image runs it."""
        try:
            rie = str(ensure(RIE))
        except ToolMissing as exc:
            raise StackError(f"--rie needs the Lambda runtime emulator: {exc}") from None
        port, api_port = free_port(), free_port()
        log_file = open(self.options.state_dir / f"{name}.log", "ab")  # noqa: SIM115
        self._cleanups.callback(log_file.close)
        proc = subprocess.Popen(
            [
                rie,
                "--log-level",
                "error",
                "--runtime-interface-emulator-address",
                f"127.0.0.1:{port}",
                "--runtime-api-address",
                f"127.0.0.1:{api_port}",
                sys.executable,
                "-m",
                "awslambdaric",
                handler,
            ],
            env={**os.environ, **self.env, "AWS_LAMBDA_FUNCTION_NAME": f"overlord-{name}"},
            stdout=subprocess.PIPE,  # copied to the log, EMF lines counted (_pump)
            stderr=log_file,
            cwd=PROJECT_ROOT,
            start_new_session=True,
            preexec_fn=die_with_parent(),  # a SIGKILLed dev takes it along
        )
        self._cleanups.callback(stop_process, proc)
        threading.Thread(
            target=self._pump, args=(proc.stdout, log_file), name=f"{name}-stdout", daemon=True
        ).start()
        wait_until(lambda: port_open("127.0.0.1", port), 20, f"the {name} emulator")
        return invoke_url_for("127.0.0.1", port)

    def _pump(self, source: IO[bytes], log_file: IO[bytes]) -> None:
        """An emulator's stdout into its log file, line by line, each line also offered
        to the metrics collector (as CloudWatch Logs reads a Lambda's EMF lines)."""
        for line in iter(source.readline, b""):
            try:
                log_file.write(line)
                log_file.flush()
            except ValueError:  # the file was closed: the stack is stopping
                pass
            self.metrics.feed_line(line.decode("utf-8", "replace"))

    def _start_reconcile(self) -> None:
        if self.options.reconcile_every <= 0:
            return
        reconcile_handler = load_handler(RECONCILE_HANDLER)

        def loop() -> None:
            while not self._stopping.wait(self.options.reconcile_every):
                try:
                    invoke_in_process(reconcile_handler, {}, "overlord-reconcile")
                except Exception:
                    log.exception("reconcile failed")

        threading.Thread(target=loop, name="reconcile", daemon=True).start()

    def _write_env_file(self) -> None:
        path = self.options.state_dir / "dev.env"
        # It holds the stack's secret key: readable by its owner only.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("".join(f"{k}={v}\n" for k, v in sorted(self.env.items())))
        self._cleanups.callback(path.unlink, missing_ok=True)

    # ----------------------------------------------------------------- stop
    def stop(self) -> None:
        self._stopping.set()
        self._cleanups.close()

    @property
    def env_file(self) -> Path:
        return self.options.state_dir / "dev.env"
