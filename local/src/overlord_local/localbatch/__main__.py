"""``python -m overlord_local.localbatch``: run the local AWS Batch endpoint.

Examples::

    python -m overlord_local.localbatch --port 8000 --queue overlord --max-vcpus 2 \\
        --tasks contracts/tasks --worker-image overlord-worker:local \\
        --event-target http://localhost:9001/2015-03-31/functions/function/invocations \\
        --dead-letter .overlord/dead-letters.jsonl

CloudWatch Logs and every other AWS call go wherever boto3's own variables point
(``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_LOGS``, ``AWS_REGION``, credentials); the
server's ``AWS_*`` variables are also handed to each job.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
from functools import partial
from pathlib import Path
from typing import Any

from overlord_local.chaos import ENV_SEED, ENV_SWITCH, Chaos, ChaosConfigError, parse_seed
from overlord_local.eventrouter import (
    EventRouter,
    EventSourceMapping,
    QueueTarget,
    SqsQueue,
    load_batch_pattern,
)
from overlord_local.eventrouter.router import DEFAULT_WORKERS
from overlord_local.lambdas import invoke_url
from overlord_local.localbatch.executors import DockerExecutor, ProcessExecutor
from overlord_local.localbatch.executors.base import Executor
from overlord_local.localbatch.faults import DEFAULT_KINDS, KINDS, SubmitFaults, parse_kinds
from overlord_local.localbatch.scheduler import Timings
from overlord_local.localbatch.server import LocalBatchServer
from overlord_local.localbatch.service import LocalBatch
from overlord_local.provision import load_definitions

log = logging.getLogger("overlord_local.localbatch")
ALL_BATCH_EVENTS = {"source": ["aws.batch"], "detail-type": ["Batch Job State Change"]}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m overlord_local.localbatch", description=__doc__
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to bind (0.0.0.0 in a container)")
    add("--port", type=int, default=8000, help="port to bind (0 picks a free one)")
    add("--region", default=None, help="region in ARNs (default: AWS_REGION or us-east-1)")
    add("--executor", choices=("process", "docker"), default="process")
    add("--docker-network", default=None, help="network for job containers (docker executor)")
    add("--kill-grace", type=float, default=5.0, help="seconds between SIGTERM and SIGKILL")
    add("--step-delay", type=float, default=0.05, help="seconds per state transition")
    add(
        "--timeout-scale",
        type=float,
        default=1.0,
        help="multiply attempt timeouts by this (tests: 0.05 makes 60 s into 3 s)",
    )
    add(
        "--event-target",
        action="append",
        default=[],
        metavar="URL",
        help="Lambda invoke URL to send matching events to (repeatable)",
    )
    add(
        "--event-job-queue",
        default=None,
        metavar="NAME_OR_ARN",
        help="only route events of this queue (the contract's rule pattern); default: all",
    )
    add("--dead-letter", default=None, metavar="PATH", help="JSON-lines file for failed events")
    add_queue_arguments(parser)
    add(
        "--event-workers",
        type=int,
        default=DEFAULT_WORKERS,
        metavar="N",
        help="events delivered at once, in no order, as EventBridge invokes Lambda targets "
        f"(default {DEFAULT_WORKERS})",
    )
    add(
        "--chaos",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"duplicate, delay and reorder events and hold SubmitJob's answers "
        f"(overlord_local.chaos; default: ${ENV_SWITCH})",
    )
    add("--chaos-seed", default=None, metavar="N", help=f"chaos seed (default: ${ENV_SEED} or new)")
    add(
        "--queue",
        action="append",
        default=[],
        metavar="NAME",
        help="create a job queue (and its compute environment NAME-ce) at start (repeatable)",
    )
    add("--max-vcpus", type=int, default=4, help="maxvCpus of the compute environments created")
    add(
        "--tasks",
        default=None,
        metavar="DIR",
        help="task catalogue (contracts/tasks): register one job definition per task at start",
    )
    add(
        "--worker-image",
        default="overlord-worker:local",
        help="image of the catalogue's Python tasks; the only image the process executor "
        "runs (its jobs run in this server's virtualenv)",
    )
    add(
        "--job-definitions",
        default=None,
        metavar="PATH",
        help="JSON object {name: RegisterJobDefinition body} to register at start",
    )
    add(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for every job (repeatable)",
    )
    add(
        "--pass-env",
        action="append",
        default=[],
        metavar="NAME",
        help="copy this variable of the server's environment into every job (repeatable)",
    )
    add_fault_arguments(parser)
    add("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"))
    return parser.parse_args(argv)


def add_queue_arguments(parser: argparse.ArgumentParser) -> None:
    """The rule's SQS target and the recorder's event source mapping (as in AWS)."""
    add = parser.add_argument
    add(
        "--event-queue",
        default=None,
        metavar="NAME_OR_URL",
        help="send matching events to this SQS queue (e.g. LocalStack's) and feed the one "
        "--event-target from it in batches, as Lambda's event source mapping does",
    )
    add("--event-batch-size", type=int, default=10, help="messages per batch (batch_size)")
    add(
        "--event-batch-window",
        type=float,
        default=0.5,
        help="seconds to fill a batch (maximum_batching_window_in_seconds)",
    )
    add(
        "--event-concurrency",
        type=int,
        default=2,
        help="batches in flight at once (scaling_config.maximum_concurrency)",
    )


def event_targets(args: argparse.Namespace) -> tuple[list[Any], EventSourceMapping | None]:
    """The rule's targets: the invoke URLs, or the SQS queue whose mapping invokes the
    one URL (returned, to start and stop with the server)."""
    if not args.event_queue:
        return list(args.event_target), None
    if len(args.event_target) != 1:
        raise SystemExit("--event-queue feeds exactly one --event-target")
    queue = SqsQueue.named(args.event_queue)
    mapping = EventSourceMapping(
        queue,
        partial(invoke_url, args.event_target[0]),
        batch_size=args.event_batch_size,
        window=args.event_batch_window,
        concurrency=args.event_concurrency,
    )
    return [QueueTarget(queue)], mapping


def add_fault_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--fail-submit-rate",
        type=float,
        default=0.0,
        metavar="P",
        help="share (0-1) of SubmitJob calls that fail on purpose (tests; default 0)",
    )
    add(
        "--fail-submit-kinds",
        default=",".join(DEFAULT_KINDS),
        metavar="KIND,...",
        help=f"how they fail, one chosen at random per failure: {', '.join(KINDS)} "
        "(throttle = 429 TooManyRequestsException; 5xx = 500 before the job is created; "
        "5xx-lost = the job is created and runs, the caller gets a 500)",
    )
    add("--fail-seed", type=int, default=None, metavar="N", help="seed of those random choices")


def submit_faults(args: argparse.Namespace) -> SubmitFaults | None:
    if not args.fail_submit_rate:
        return None
    try:
        return SubmitFaults(
            args.fail_submit_rate, parse_kinds(args.fail_submit_kinds), args.fail_seed
        )
    except ValueError as exc:
        raise SystemExit(f"--fail-submit-*: {exc}") from None


def chaos_from(args: argparse.Namespace) -> Chaos | None:
    """--chaos / --no-chaos, else OVERLORD_CHAOS; the seed from --chaos-seed, else
    OVERLORD_CHAOS_SEED, else a new one."""
    try:
        if args.chaos is None:
            chaos = Chaos.from_env()
            if chaos is None or args.chaos_seed is None:
                return chaos
            return Chaos(seed=parse_seed(args.chaos_seed))
        if not args.chaos:
            return None
        return Chaos(seed=parse_seed(args.chaos_seed or os.environ.get(ENV_SEED)))
    except ChaosConfigError as exc:
        raise SystemExit(f"--chaos: {exc}") from None


def extra_environment(args: argparse.Namespace) -> dict[str, str]:
    env = {name: os.environ[name] for name in args.pass_env if name in os.environ}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--env expects KEY=VALUE, got {item!r}")
        env[key] = value
    return env


def build_executor(args: argparse.Namespace) -> Executor:
    if args.executor == "docker":
        return DockerExecutor(kill_grace=args.kill_grace, network=args.docker_network)
    # With a catalogue, Python tasks carry the worker image; another image cannot run here.
    images = {args.worker_image} if args.tasks else None
    return ProcessExecutor(kill_grace=args.kill_grace, only_images=images)


def bootstrap(batch: LocalBatch, queues: list[str], max_vcpus: int, definitions: Any) -> None:
    """Create the named queues (each with its own CE) and register the job definitions."""
    for name in queues:
        batch.create_compute_environment(
            {
                "computeEnvironmentName": f"{name}-ce",
                "type": "MANAGED",
                "computeResources": {"type": "FARGATE", "maxvCpus": max_vcpus},
            }
        )
        batch.create_job_queue(
            {
                "jobQueueName": name,
                "priority": 1,
                "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": f"{name}-ce"}],
            }
        )
    for name, body in (definitions or {}).items():
        batch.register_job_definition({"jobDefinitionName": name, **body})


def definitions_from(args: argparse.Namespace) -> dict[str, Any]:
    """--job-definitions, then one per task of --tasks (the catalogue)."""
    definitions = json.loads(Path(args.job_definitions).read_text()) if args.job_definitions else {}
    if args.tasks:
        definitions.update(load_definitions(args.worker_image, Path(args.tasks)))
    return dict(definitions)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    if args.event_workers < 1:
        raise SystemExit("--event-workers must be at least 1")
    chaos = chaos_from(args)
    if chaos is not None:
        log.warning("%s", chaos.describe())
    router = EventRouter(dead_letter_path=args.dead_letter, workers=args.event_workers, chaos=chaos)
    server = LocalBatchServer(
        build_executor(args),
        host=args.host,
        port=args.port,
        region=args.region,
        on_event=router.put,
        timings=Timings(step=args.step_delay, timeout_scale=args.timeout_scale),
        extra_environment=extra_environment(args),
        submit_faults=submit_faults(args),
        chaos=chaos,
    )
    targets, mapping = event_targets(args) if args.event_target else ([], None)
    if targets:
        queue = args.event_job_queue
        if queue:
            arn = queue if queue.startswith("arn:") else server.batch.arns.job_queue(queue)
            pattern = load_batch_pattern(arn)
        else:
            pattern = ALL_BATCH_EVENTS
        router.add_rule(pattern, *targets, name="batch-job-state-change")
    bootstrap(server.batch, args.queue, args.max_vcpus, definitions_from(args))

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    if mapping is not None:
        mapping.start()
    log.info(
        "local Batch on %s (executor %s, %d event target(s))",
        server.endpoint_url,
        args.executor,
        len(args.event_target),
    )
    stop.wait()
    log.info("stopping")
    server.stop()
    router.stop(timeout=10)
    if mapping is not None:
        mapping.stop(timeout=10)


if __name__ == "__main__":
    main()
