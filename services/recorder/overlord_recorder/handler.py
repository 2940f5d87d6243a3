"""The recorder Lambdas: Batch state-change events (SQS batches), and the scheduled reconcile."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from overlord.domain.event_batches import in_recording_order
from overlord.ports.batch_events import BatchJobStateChange, observe
from overlord.runtime import telemetry, wiring
from overlord.runtime.json_logging import service_logger
from overlord.services.reconcile import reconcile
from overlord.services.record import record_observation

logger = service_logger("overlord-recorder")
# X-Ray; off outside Lambda and wherever POWERTOOLS_TRACE_DISABLED is true (`make dev`).
tracer = Tracer(service="overlord-recorder")


def _record(event: BatchJobStateChange) -> dict[str, Any]:
    detail = event.detail
    # Per thread: `make dev` runs this handler on several threads at once, where
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
    c = wiring.components()
    outcome = record_observation(c.store, c.log_streams, c.objects, observe(detail, event.time))
    telemetry.recorded(outcome, event.time)
    logger.info("recorded event" if outcome.recorded else "ignored event")
    return asdict(outcome)


def _record_message(record: SQSRecord) -> dict[str, Any]:
    """One SQS message, its body the EventBridge event; raising fails this message only."""
    return _record(BatchJobStateChange.model_validate_json(record.body))


@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """An SQS batch (the event source mapping): `batchItemFailures` names the messages
    to deliver again. A bare EventBridge event (a dead letter replayed by hand with
    `aws lambda invoke`) is recorded alone and raises on failure."""
    with telemetry.invocation("recorder"):  # one invocation's metrics, the whole batch
        return _records(event, context)


def _records(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "Records" not in event:
        return _record(BatchJobStateChange.model_validate(event))
    ordered = {**event, "Records": in_recording_order(event["Records"])}
    # One processor per invocation: it keeps the batch's outcomes on itself, and the
    # local stack runs this handler on several threads at once.
    answer = process_partial_response(
        event=ordered,
        record_handler=_record_message,
        processor=BatchProcessor(event_type=EventType.SQS),
        context=context,
    )
    return dict(answer)


@logger.inject_lambda_context(clear_state=True)
def reconcile_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with telemetry.invocation("reconcile"):
        c = wiring.components()
        report = reconcile(
            c.store,
            c.batch,
            c.log_streams,
            c.objects,
            older_than_seconds=c.settings.reconcile_after_seconds,
            settle_logs_seconds=c.settings.log_settle_seconds,
        )
        telemetry.reconciled(report)
    logger.info("reconciled", extra=asdict(report))
    return asdict(report)
