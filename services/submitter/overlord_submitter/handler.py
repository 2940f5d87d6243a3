"""The submitter Lambda: API Gateway HTTP API (payload 2.0) → service → response."""

from __future__ import annotations

import base64
import binascii
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from overlord import wiring
from overlord.errors import (
    BatchRejected,
    BatchThrottled,
    BatchUnavailable,
    InvalidRequest,
    JobNotFound,
    ObjectStoreUnavailable,
    RunInProgress,
    StoreUnavailable,
    UnsupportedMediaType,
)
from overlord.identity import is_job_id
from overlord.logs import service_logger
from overlord.request import parse_job_request
from overlord.services import queries
from overlord.services.submit import Submission, start_new_run, submit_job

logger = service_logger("overlord-submitter")
app = APIGatewayHttpResolver()


def _json(status: HTTPStatus, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=body,
        headers=headers or {},
    )


def _error(status: HTTPStatus, message: str) -> Response:
    return _json(status, {"error": status.phrase, "message": message})


def _known_job_id(job_id: str) -> str:
    if not is_job_id(job_id):
        raise JobNotFound(job_id)
    logger.append_keys(job_id=job_id)
    return job_id


def _submitted(submission: Submission, location: str) -> Response:
    """202 for a run this request started, 200 for an existing job."""
    body = {
        "job_id": submission.job_id,
        "batch_job_id": submission.batch_job_id,
        "run": submission.run,
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


@app.post("/jobs")
def post_job() -> Response:
    request = parse_job_request(_json_body())
    logger.append_keys(job_id=request.job_id)
    c = wiring.components()
    submission = submit_job(c.store, c.batch, c.objects, c.submit_config, request)
    return _submitted(submission, f"/jobs/{request.job_id}")


@app.get("/jobs/<job_id>")
def get_job(job_id: str) -> Response:
    c = wiring.components()
    return _json(HTTPStatus.OK, queries.job_with_latest_run(c.store, _known_job_id(job_id)))


@app.post("/jobs/<job_id>/runs")
def post_run(job_id: str) -> Response:
    c = wiring.components()
    submission = start_new_run(c.store, c.batch, c.objects, c.submit_config, _known_job_id(job_id))
    return _submitted(submission, f"/jobs/{job_id}/runs")


@app.get("/jobs/<job_id>/runs")
def get_runs(job_id: str) -> Response:
    c = wiring.components()
    return _json(HTTPStatus.OK, queries.runs_of(c.store, _known_job_id(job_id)))


@app.get("/jobs/<job_id>/logs")
def get_logs(job_id: str) -> Response:
    c = wiring.components()
    params = app.current_event.query_string_parameters or {}
    page = queries.parse_log_query(params)
    return _json(HTTPStatus.OK, queries.logs_of(c.store, _known_job_id(job_id), page))


@app.get("/health")
def health() -> Response:
    wiring.components().store.ping()
    return _json(HTTPStatus.OK, {"status": "ok"})


@app.exception_handler(InvalidRequest)
def _invalid(exc: InvalidRequest) -> Response:
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE if exc.too_large else HTTPStatus.BAD_REQUEST
    return _error(status, str(exc))


@app.exception_handler(UnsupportedMediaType)
def _unsupported_media_type(exc: UnsupportedMediaType) -> Response:
    return _error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, str(exc))


@app.exception_handler(JobNotFound)
def _not_found(exc: JobNotFound) -> Response:
    return _error(HTTPStatus.NOT_FOUND, str(exc))


@app.exception_handler(RunInProgress)
def _conflict(exc: RunInProgress) -> Response:
    return _error(HTTPStatus.CONFLICT, str(exc))


@app.exception_handler(BatchRejected)
def _batch_rejected(exc: BatchRejected) -> Response:
    logger.warning("Batch refused the job", extra={"reason": str(exc)})
    return _error(HTTPStatus.BAD_GATEWAY, f"{exc}; the job is marked SUBMIT_FAILED")


@app.exception_handler(BatchThrottled)
def _batch_throttled(exc: BatchThrottled) -> Response:
    logger.warning("Batch throttled the submission", extra={"reason": str(exc)})
    return _json(
        HTTPStatus.SERVICE_UNAVAILABLE,
        {
            "error": HTTPStatus.SERVICE_UNAVAILABLE.phrase,
            "message": f"{exc}; send the request again after Retry-After seconds",
        },
        {"Retry-After": str(exc.retry_after_seconds)},
    )


@app.exception_handler(BatchUnavailable)
def _batch_unavailable(exc: BatchUnavailable) -> Response:
    logger.warning("Batch unavailable", extra={"reason": str(exc)})
    return _error(
        HTTPStatus.SERVICE_UNAVAILABLE,
        f"{exc}; the job is marked SUBMIT_FAILED, send the request again to retry",
    )


@app.exception_handler(ObjectStoreUnavailable)
def _object_store_unavailable(exc: ObjectStoreUnavailable) -> Response:
    logger.warning("S3 unavailable", extra={"reason": str(exc)})
    return _error(
        HTTPStatus.SERVICE_UNAVAILABLE,
        f"{exc}; the job is marked SUBMIT_FAILED, send the request again to retry",
    )


@app.exception_handler(StoreUnavailable)
def _store_unavailable(exc: StoreUnavailable) -> Response:
    logger.error("MongoDB unavailable", extra={"reason": str(exc)})
    return _error(
        HTTPStatus.SERVICE_UNAVAILABLE,
        "the job store (MongoDB) is unavailable; send the request again to retry",
    )


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True
)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
