"""The recorder Lambdas: Batch state-change events, and the scheduled reconcile."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from overlord.ports.batch_events import BatchJobStateChange, observe
from overlord.runtime import telemetry, wiring
from overlord.runtime.logs import service_logger
from overlord.services.reconcile import reconcile
from overlord.services.record import record_observation

logger = service_logger("overlord-recorder")
# X-Ray; off outside Lambda and wherever POWERTOOLS_TRACE_DISABLED is true (`make dev`).
tracer = Tracer(service="overlord-recorder")


@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(clear_state=True)
@event_parser(model=BatchJobStateChange)
def lambda_handler(event: BatchJobStateChange, context: LambdaContext) -> dict[str, Any]:
    detail = event.detail
    # Per thread: `make dev` runs this handler on several router threads at once, where
    # process-wide keys would label one event's lines with another's job.
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(
        job_id=detail.job_name,
        batch_job_id=detail.batch_job_id,
        event_id=event.id,
        status=detail.status,
    )
    tracer.put_annotation("job_id", detail.job_name)
    tracer.put_annotation("batch_job_id", detail.batch_job_id)
    with telemetry.invocation("recorder"):
        c = wiring.components()
        outcome = record_observation(c.store, c.logs, c.objects, observe(detail, event.time))
        telemetry.recorded(outcome, event.time)
    logger.info("recorded event" if outcome.recorded else "ignored event")
    return asdict(outcome)


@logger.inject_lambda_context(clear_state=True)
def reconcile_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with telemetry.invocation("reconcile"):
        c = wiring.components()
        report = reconcile(
            c.store,
            c.batch,
            c.logs,
            c.objects,
            older_than_seconds=c.settings.reconcile_after_seconds,
            settle_logs_seconds=c.settings.log_settle_seconds,
        )
        telemetry.reconciled(report)
    logger.info("reconciled", extra=asdict(report))
    return asdict(report)
