"""The submitter Lambda: API Gateway HTTP API (payload 2.0) → service → response."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from http import HTTPStatus
from typing import Annotated, Any, TypeVar

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AwareDatetime, BaseModel, ValidationError

from overlord.domain import deadline
from overlord.domain.errors import (
    BatchCallFailed,
    BatchRejected,
    BatchThrottled,
    BatchUnavailable,
    InvalidRequest,
    JobNotFound,
    NoActiveRun,
    NothingToRerun,
    ObjectStoreUnavailable,
    OverlordError,
    RunInProgress,
    SecretUnavailable,
    StoreUnavailable,
    SubmitOutcomeUnknown,
    TaskNotFound,
    UnsupportedMediaType,
)
from overlord.domain.identity import is_job_id
from overlord.domain.request import MAX_ITEMS, describe_validation_error, parse_job_request
from overlord.ports import JobFilter, LogFilter
from overlord.runtime import telemetry, wiring
from overlord.runtime.json_logging import service_logger
from overlord.services import queries
from overlord.services.cancel import cancel_job
from overlord.services.submit import Submission, start_new_run, submit_job
from overlord_submitter import models, openapi
from overlord_submitter.problems import problem, problem_from_validation, responses

logger = service_logger("overlord-submitter")
# X-Ray; off outside Lambda and wherever POWERTOOLS_TRACE_DISABLED is true (`make dev`).
tracer = Tracer(service="overlord-submitter")
app = APIGatewayHttpResolver(enable_validation=True)
MAX_INDEX = MAX_ITEMS - 1
BodyModel = TypeVar("BodyModel", bound=BaseModel)
INDEX_DOC = "an array job's child (0-based, below its items_count)"


def _json(status: HTTPStatus, body: Any, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=body,
        headers=headers or {},
    )


def _known_job_id(job_id: str) -> str:
    if not is_job_id(job_id):
        raise JobNotFound(job_id)
    logger.thread_safe_append_keys(job_id=job_id)
    tracer.put_annotation("job_id", job_id)
    return job_id


def _caller() -> str | None:
    """Who signed the request: the IAM principal API Gateway verified (its ARN), or the
    access key where no ARN is known (the local gateway); None without IAM auth."""
    iam = app.current_event.request_context.authorizer.iam
    return iam.user_arn or iam.access_key or None


# The routes whose refusals count as refused submissions.
SUBMIT_ROUTES = frozenset({"POST /jobs", "POST /jobs/{job_id}/runs"})


def _submitted(submission: Submission, location: str) -> Response[Any]:
    """202 for a run this request started, 200 for an existing job."""
    telemetry.submitted(submission)
    tracer.put_annotation("job_id", submission.job_id)
    if submission.batch_job_id:
        tracer.put_annotation("batch_job_id", submission.batch_job_id)
    body = {
        "job_id": submission.job_id,
        "batch_job_id": submission.batch_job_id,
        "run": submission.run_number,
        "status": submission.status,
        "created": submission.created,
    }
    status = HTTPStatus.ACCEPTED if submission.created else HTTPStatus.OK
    return _json(status, body, {"Location": location})


def _json_body() -> bytes | None:
    """The body's bytes, if declared as JSON (UTF-8: RFC 8259 §8.1); else 415.

    Bytes, not Powertools' ``decoded_body``: that decodes base64 bodies as UTF-8 itself
    and raises on anything else, which would be a 500 instead of the client's 400.
    """
    event = app.current_event
    declared = event.headers.get("content-type") or ""
    media_type, _, rest = declared.partition(";")
    charset = rest.strip().lower().replace(" ", "")
    if media_type.strip().lower() != "application/json" or charset not in (
        "",
        "charset=utf-8",
        'charset="utf-8"',
    ):
        raise UnsupportedMediaType(
            f"content-type: must be application/json (charset utf-8), not {declared[:80]!r}"
        )
    body = event.body
    if body is None:
        return None
    if not event.is_base64_encoded:
        # A lone surrogate in the event's text becomes bytes that are not UTF-8, so the
        # parser refuses it as it refuses any other bad byte.
        return body.encode("utf-8", "surrogatepass")
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error:
        raise InvalidRequest("body: not valid base64 (isBase64Encoded)") from None


# ------------------------------------------------------------------------ routes


@app.post(
    "/jobs",
    summary="Submit a job (the same input again returns the existing job)",
    responses=responses({202: models.Submitted, 200: models.Submitted}, 400, 413, 415, 502, 503),
    openapi_extensions=openapi.request_body(openapi.JOB_REQUEST),
)
def post_job() -> Response[Any]:
    request = parse_job_request(_json_body())
    logger.thread_safe_append_keys(job_id=request.job_id)
    c = wiring.components()
    submission = submit_job(
        c.store, c.batch, c.objects, c.submit_config, request, created_by=_caller()
    )
    return _submitted(submission, f"/jobs/{request.job_id}")


@app.get(
    "/jobs",
    summary="List jobs, newest first",
    responses=responses({200: models.JobPage}, 400, 503),
)
def list_jobs(
    status: Annotated[models.JobStatus | None, Query()] = None,
    task: Annotated[str | None, Query(max_length=64)] = None,
    tag: Annotated[
        list[str] | None, Query(description="key:value, repeatable; every one must match")
    ] = None,
    created_after: Annotated[AwareDatetime | None, Query()] = None,
    created_before: Annotated[AwareDatetime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_JOB_PAGE)] = queries.DEFAULT_JOB_PAGE,
    cursor: Annotated[str | None, Query(max_length=1024, description="`next` of a page")] = None,
) -> Response[Any]:
    where = JobFilter(
        status=status.value if status else None,
        task=task,
        tags=tuple(_tag(t) for t in tag or ()),
        created_after=_utc(created_after),
        created_before=_utc(created_before),
    )
    c = wiring.components()
    return _json(HTTPStatus.OK, queries.list_jobs(c.store, where, cursor, limit))


def _tag(text: str) -> tuple[str, str]:
    key, sep, value = text.partition(":")
    if not sep or not key:
        raise InvalidRequest(f"tag: {text[:40]!r} is not key:value")
    return key, value


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value else None


@app.get(
    "/jobs/<job_id>",
    summary="A job with its latest run (an array job: its children's counts; ?index=: a child)",
    responses=responses({200: models.JobWithRun}, 400, 404, 503),
)
def get_job(
    job_id: str,
    index: Annotated[int | None, Query(ge=0, le=MAX_INDEX, description=INDEX_DOC)] = None,
    children: Annotated[
        bool, Query(description="an array job: also each item's status (`array.statuses`)")
    ] = False,
) -> Response[Any]:
    c = wiring.components()
    view = queries.job_with_latest_run(c.store, _known_job_id(job_id), index, children)
    return _json(HTTPStatus.OK, view)


@app.post(
    "/jobs/<job_id>/runs",
    summary="Run a finished job again (an array job: all its items, or only the failed)",
    responses=responses({202: models.Submitted}, 400, 404, 409, 502, 503),
    openapi_extensions=openapi.request_body(models.RunBody, required=False),
)
def post_run(job_id: str) -> Response[Any]:
    body = _optional_body(models.RunBody, app.current_event.decoded_body)
    c = wiring.components()
    submission = start_new_run(
        c.store,
        c.batch,
        c.objects,
        c.submit_config,
        _known_job_id(job_id),
        only_failed=body.only == "failed",
    )
    return _submitted(submission, f"/jobs/{job_id}/runs")


@app.get(
    "/jobs/<job_id>/runs",
    summary="Every run of a job",
    responses=responses({200: models.RunList}, 404, 503),
)
def get_runs(job_id: str) -> Response[Any]:
    c = wiring.components()
    return _json(HTTPStatus.OK, queries.runs_of(c.store, _known_job_id(job_id)))


@app.post(
    "/jobs/<job_id>/cancel",
    summary="Cancel the job's active run (CancelJob before it starts, TerminateJob after)",
    responses=responses({202: models.CancelAccepted}, 400, 404, 409, 502, 503),
    openapi_extensions=openapi.request_body(models.CancelBody, required=False),
)
def post_cancel(job_id: str) -> Response[Any]:
    body = _optional_body(models.CancelBody, app.current_event.decoded_body)
    c = wiring.components()
    done = cancel_job(c.store, c.batch, _known_job_id(job_id), body.reason, _caller())
    return _json(
        HTTPStatus.ACCEPTED,
        {
            "job_id": done.job_id,
            "batch_job_id": done.batch_job_id,
            "run": done.run_number,
            "action": done.action,
            "reason": done.reason,
        },
    )


def _optional_body(model: type[BodyModel], body: str | None) -> BodyModel:
    if body is None or not body.strip():
        return model()
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidRequest(describe_validation_error(exc)) from None


@app.get(
    "/jobs/<job_id>/logs",
    summary="A job's lines in reading order (submission, states, each attempt, result)",
    responses=responses({200: models.LogPage}, 400, 404, 503),
)
def get_logs(
    job_id: str,
    run: Annotated[int | None, Query(ge=1, le=10**9, description="the run number")] = None,
    attempt: Annotated[int | None, Query(ge=0, le=10**4)] = None,
    kind: Annotated[list[models.LogKindName] | None, Query(description="repeatable")] = None,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_LOG_PAGE)] = queries.DEFAULT_LOG_PAGE,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
    index: Annotated[int | None, Query(ge=0, le=MAX_INDEX, description=INDEX_DOC)] = None,
) -> Response[Any]:
    query = queries.LogQuery(
        run_number=run,  # the query parameter keeps the API's name
        where=LogFilter(attempt=attempt, kinds=tuple(k.value for k in kind or ())),
        cursor=cursor,
        limit=limit,
        index=index,
    )
    c = wiring.components()
    return _json(
        HTTPStatus.OK, queries.logs_of(c.store, _known_job_id(job_id), query, c.log_streams)
    )


@app.get(
    "/tasks",
    summary="The task catalogue: each task's parameters (JSON Schema), runtime and resources",
    responses=responses({200: models.TaskList}),
)
def get_tasks() -> Response[Any]:
    return _json(HTTPStatus.OK, queries.tasks(wiring.components().catalogue))


@app.get("/tasks/<name>", summary="One task", responses=responses({200: models.Task}, 404))
def get_task(name: str) -> Response[Any]:
    return _json(HTTPStatus.OK, queries.task(wiring.components().catalogue, name))


@app.get(
    "/health",
    summary="200 when MongoDB answers; 503 saying why not (e.g. its secret has no value yet)",
    responses=responses({200: models.Health}, 503),
)
def health() -> Response[Any]:
    wiring.components().store.ping()
    return _json(HTTPStatus.OK, {"status": "ok"})


@app.get("/openapi.json", include_in_schema=False)
def openapi_json() -> Response[Any]:
    return _json(HTTPStatus.OK, openapi.document(app))


@app.get("/docs", include_in_schema=False)
def docs() -> Response[Any]:
    return Response(status_code=HTTPStatus.OK, content_type="text/html", body=openapi.swagger(app))


# ------------------------------------------------------------------------ errors


def _refused(exc: Exception) -> None:
    if app.current_event.route_key in SUBMIT_ROUTES:
        telemetry.refused(exc)


@app.exception_handler(RequestValidationError)
def _invalid_parameters(exc: RequestValidationError) -> Response[Any]:
    _refused(exc)
    return problem_from_validation(exc.errors())


@app.exception_handler(InvalidRequest)
def _invalid(exc: InvalidRequest) -> Response[Any]:
    _refused(exc)
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE if exc.too_large else HTTPStatus.BAD_REQUEST
    return problem(status, str(exc))


@app.not_found
def _no_route(exc: Exception) -> Response[Any]:
    return problem(HTTPStatus.NOT_FOUND, f"path: no route {app.current_event.path}")


@dataclass(frozen=True)
class _Answer:
    """A domain error's answer: `detail` is a template of the error's own message
    (``{exc}``), and `log`, when set, is a line logged with that message as `reason`."""

    status: HTTPStatus
    detail: str = "{exc}"
    log: tuple[Callable[..., None], str] | None = None


# Powertools picks the entry of the error's nearest class (BatchThrottled and
# SubmitOutcomeUnknown before BatchUnavailable), as it would for handlers written one by one.
_ANSWERS: dict[type[OverlordError], _Answer] = {
    UnsupportedMediaType: _Answer(HTTPStatus.UNSUPPORTED_MEDIA_TYPE),
    JobNotFound: _Answer(HTTPStatus.NOT_FOUND),
    TaskNotFound: _Answer(HTTPStatus.NOT_FOUND),
    RunInProgress: _Answer(HTTPStatus.CONFLICT),
    NoActiveRun: _Answer(HTTPStatus.CONFLICT),
    NothingToRerun: _Answer(HTTPStatus.CONFLICT),
    BatchRejected: _Answer(
        HTTPStatus.BAD_GATEWAY,
        "{exc}; the job is marked SUBMIT_FAILED",
        (logger.warning, "Batch refused the request"),
    ),
    BatchCallFailed: _Answer(
        HTTPStatus.BAD_GATEWAY,
        "{exc}; nothing was changed, ask again",
        (logger.warning, "Batch call failed"),
    ),
    BatchThrottled: _Answer(
        HTTPStatus.SERVICE_UNAVAILABLE,
        "{exc}; send the request again after Retry-After seconds",
        (logger.warning, "Batch throttled the submission"),
    ),
    SubmitOutcomeUnknown: _Answer(
        HTTPStatus.SERVICE_UNAVAILABLE,
        "{exc}; Batch may have the job: send the request again after Retry-After "
        "seconds, and it is adopted if Batch has it, submitted if not",
        (logger.warning, "SubmitJob's outcome unknown"),
    ),
    BatchUnavailable: _Answer(
        HTTPStatus.SERVICE_UNAVAILABLE,
        "{exc}; the job is marked SUBMIT_FAILED, send the request again to retry",
        (logger.warning, "Batch unavailable"),
    ),
    ObjectStoreUnavailable: _Answer(
        HTTPStatus.SERVICE_UNAVAILABLE,
        "{exc}; the job is marked SUBMIT_FAILED, send the request again to retry",
        (logger.warning, "S3 unavailable"),
    ),
    StoreUnavailable: _Answer(
        HTTPStatus.SERVICE_UNAVAILABLE,
        "the job store (MongoDB) is unavailable; send the request again to retry",
        (logger.error, "MongoDB unavailable"),
    ),
    # Raised while the components are built (the first request of a cold start), so any
    # route can answer it; /health then says why the stack is not ready.
    SecretUnavailable: _Answer(
        HTTPStatus.SERVICE_UNAVAILABLE,
        "the job store's connection string is unavailable: {exc}",
        (logger.error, "MongoDB URI unavailable"),
    ),
}


def _answer(answer: _Answer, exc: OverlordError) -> Response[Any]:
    _refused(exc)
    if answer.log:
        log, message = answer.log
        log(message, extra={"reason": str(exc)})
    after = exc.retry_after_seconds if isinstance(exc, BatchUnavailable) else None
    headers = {"Retry-After": str(after)} if after is not None else None
    return problem(answer.status, answer.detail.format(exc=exc), headers=headers)


for _error, _how in _ANSWERS.items():
    app.exception_handler(_error)(partial(_answer, _how))


@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True
)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # This invocation's keys only (per thread, like the recorder's, which `make dev` runs
    # on several threads at once): nothing left from the previous request.
    logger.thread_safe_clear_keys()
    with (
        deadline.invocation(context.get_remaining_time_in_millis() / 1000),
        telemetry.invocation("submitter"),
    ):
        return app.resolve(event, context)
