"""AWS Batch's REST-JSON protocol over WSGI: URI → ``LocalBatch`` method, errors in AWS's shape.

Errors: HTTP 400/500 with ``x-amzn-ErrorType: ClientException`` (or
``ServerException``) and ``{"__type": ..., "message": ...}``, which botocore turns
into ``client.exceptions.ClientException``.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from overlord_local.localbatch.errors import BatchError, ClientException, ServerException
from overlord_local.localbatch.service import LocalBatch

log = logging.getLogger(__name__)

# POST /v1/<lowercased operation> → LocalBatch method taking the JSON body.
BODY_OPERATIONS = {
    "createcomputeenvironment": "create_compute_environment",
    "describecomputeenvironments": "describe_compute_environments",
    "updatecomputeenvironment": "update_compute_environment",
    "createjobqueue": "create_job_queue",
    "describejobqueues": "describe_job_queues",
    "updatejobqueue": "update_job_queue",
    "registerjobdefinition": "register_job_definition",
    "describejobdefinitions": "describe_job_definitions",
    "deregisterjobdefinition": "deregister_job_definition",
    "submitjob": "submit_job",
    "describejobs": "describe_jobs",
    "listjobs": "list_jobs",
    "canceljob": "cancel_job",
    "terminatejob": "terminate_job",
}

URLS = Map(
    [
        Rule("/v1/tags/<path:arn>", endpoint="tags"),
        Rule("/v1/<operation>", endpoint="operation", methods=["POST"]),
        Rule("/health", endpoint="health", methods=["GET"]),
    ]
)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    headers = {"x-amzn-RequestId": str(uuid.uuid4()), **(headers or {})}
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


def error_response(error: BatchError) -> Response:
    return json_response(
        {"__type": error.error_type, "message": error.message},
        status=error.status,
        headers={"x-amzn-ErrorType": error.error_type},
    )


class BatchApi:
    """The WSGI application in front of a ``LocalBatch``."""

    def __init__(self, batch: LocalBatch) -> None:
        self.batch = batch

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        return self.dispatch(request)(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        try:
            endpoint, values = URLS.bind_to_environ(request.environ).match()
            if endpoint == "health":
                return json_response({"status": "ok"})
            if endpoint == "tags":
                return json_response(self._tags(request, values["arn"]))
            method = BODY_OPERATIONS.get(values["operation"].lower())
            if method is None:
                raise NotFound()
            if method == "submit_job":
                body = request.get_data()
                return json_response(
                    self.batch.submit_job(self._body(request), body_size=len(body))
                )
            return json_response(getattr(self.batch, method)(self._body(request)))
        except BatchError as exc:
            log.info("%s %s → %s: %s", request.method, request.path, exc.error_type, exc.message)
            return error_response(exc)
        except HTTPException as exc:
            return error_response(ClientException(f"{exc.code} {exc.name}: {request.path}"))
        except Exception as exc:
            log.exception("%s %s failed", request.method, request.path)
            return error_response(ServerException(f"{type(exc).__name__}: {exc}"))

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        raw = request.get_data(as_text=True)
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise ClientException(f"Malformed JSON body: {exc}") from exc
        if not isinstance(body, dict):
            raise ClientException("The request body must be a JSON object")
        return body

    def _tags(self, request: Request, arn: str) -> dict[str, Any]:
        if request.method == "GET":
            return self.batch.list_tags_for_resource(arn)
        if request.method == "POST":
            return self.batch.tag_resource(arn, self._body(request))
        if request.method == "DELETE":
            return self.batch.untag_resource(arn, request.args.getlist("tagKeys"))
        raise ClientException(f"Method {request.method} is not allowed on tags")
