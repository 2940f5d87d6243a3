"""The recorder Lambdas: Batch state-change events (SQS batches), and the scheduled reconcile."""

from __future__ import annotations

from collections.abc import Mapping
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
from overlord.domain.observation import RunObservation
from overlord.ports.batch_events import BatchJobStateChange, observe
from overlord.runtime import telemetry, wiring
from overlord.runtime.logs import service_logger
from overlord.services.reconcile import reconcile
from overlord.services.record import Outcome, record_batch, record_observation

logger = service_logger("overlord-recorder")
# X-Ray; off outside Lambda and wherever POWERTOOLS_TRACE_DISABLED is true (`make dev`).
tracer = Tracer(service="overlord-recorder")


def _record(event: BatchJobStateChange) -> dict[str, Any]:
    """A bare EventBridge event, recorded alone."""
    _label(event)
    c = wiring.components()
    outcome = record_observation(c.store, c.logs, c.objects, observe(event.detail, event.time))
    return _told(event, outcome)


def _label(event: BatchJobStateChange) -> None:
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


def _told(event: BatchJobStateChange, outcome: Outcome) -> dict[str, Any]:
    telemetry.recorded(outcome, event.time)
    logger.info("recorded event" if outcome.recorded else "ignored event")
    return asdict(outcome)


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
    records = in_recording_order(event["Records"])
    results = _record_batch(records)

    def told(record: SQSRecord) -> dict[str, Any]:
        """One message's part of the batch: raising fails this message only."""
        parsed, outcome = results[record.message_id]
        if isinstance(parsed, Exception):
            raise parsed
        _label(parsed)
        if isinstance(outcome, Exception):
            raise outcome
        assert outcome is not None
        return _told(parsed, outcome)

    # One processor per invocation: it keeps the batch's outcomes on itself, and the
    # local stack runs this handler on several threads at once.
    answer = process_partial_response(
        event={**event, "Records": records},
        record_handler=told,
        processor=BatchProcessor(event_type=EventType.SQS),
        context=context,
    )
    return dict(answer)


_Parsed = BatchJobStateChange | Exception


def _record_batch(
    records: list[Mapping[str, Any]],
) -> dict[str, tuple[_Parsed, Outcome | Exception | None]]:
    """Every message of the batch recorded together (services.record.record_batch), by
    message ID: the event read from it (or why it could not be), and its outcome (or the
    error that fails it). A message that cannot be read fails alone."""
    parsed: dict[str, _Parsed] = {}
    observations: list[tuple[str, RunObservation]] = []
    for record in records:
        message_id = str(record.get("messageId"))
        try:
            change = BatchJobStateChange.model_validate_json(str(record.get("body")))
            observations.append((message_id, observe(change.detail, change.time)))
            parsed[message_id] = change
        except Exception as exc:  # a body that is not a Batch state change
            parsed[message_id] = exc
    try:
        c = wiring.components()
        outcomes = record_batch(c.store, c.logs, c.objects, [obs for _, obs in observations])
    except Exception as exc:  # the store cannot be reached at all: every message fails
        outcomes = [exc] * len(observations)
    by_id: dict[str, Outcome | Exception] = {
        message_id: outcome for (message_id, _), outcome in zip(observations, outcomes, strict=True)
    }
    return {m: (p, by_id.get(m)) for m, p in parsed.items()}


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
