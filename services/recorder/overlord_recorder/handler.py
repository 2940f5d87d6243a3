"""The recorder Lambdas: Batch state-change events, and the scheduled reconcile."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from overlord.ports.batch_events import BatchJobStateChange, observe
from overlord.runtime import wiring
from overlord.runtime.logs import service_logger
from overlord.services.reconcile import reconcile
from overlord.services.record import record_observation

logger = service_logger("overlord-recorder")


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
    c = wiring.components()
    outcome = record_observation(c.store, c.logs, c.objects, observe(detail, event.time))
    logger.info("recorded event" if outcome.recorded else "ignored event")
    return asdict(outcome)


@logger.inject_lambda_context(clear_state=True)
def reconcile_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    c = wiring.components()
    report = reconcile(
        c.store,
        c.batch,
        c.logs,
        c.objects,
        older_than_seconds=c.settings.reconcile_after_seconds,
        settle_logs_seconds=c.settings.log_settle_seconds,
    )
    logger.info("reconciled", extra=asdict(report))
    return asdict(report)
