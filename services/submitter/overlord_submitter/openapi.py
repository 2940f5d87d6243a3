"""GET /openapi.json and GET /docs, generated from the routes and their pydantic models.

Powertools builds the document from the routes' annotations and `responses`. Two
things are adjusted, both from models, none written by hand: the bodies the handler
parses itself (JobRequest through request.py, which enforces size limits first) are
declared with their models' JSON Schema, and the 422 Powertools documents for its own
validation errors is dropped, because those are answered 400 with a Problem here.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi import swagger_ui
from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html
from pydantic import BaseModel

from overlord.domain.request import JobRequest

TITLE = "Overlord"
VERSION = "1"
JOB_REQUEST = JobRequest
_UNUSED = ("HTTPValidationError", "ValidationError")


def request_body(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """An operation's requestBody from a model (given to a route as openapi_extensions)."""
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


def document(app: APIGatewayHttpResolver) -> dict[str, Any]:
    return json.loads(_document_json(app))


@functools.cache
def _document_json(app: APIGatewayHttpResolver) -> str:
    schema = app.get_openapi_schema(
        title=TITLE,
        version=VERSION,
        description=(
            "HTTP request → AWS Batch job, recorded in MongoDB. Every route needs AWS "
            "SigV4 (service execute-api); errors are application/problem+json."
        ),
    )
    doc: dict[str, Any] = schema.model_dump(mode="json", by_alias=True, exclude_none=True)
    for operations in doc.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    components = doc.get("components", {}).get("schemas", {})
    for name in _UNUSED:
        components.pop(name, None)
    return json.dumps(doc)


@functools.cache
def swagger(app: APIGatewayHttpResolver) -> str:
    """Swagger UI with its JavaScript and CSS inlined from the Powertools package, so the
    page needs no CDN (about 1.7 MB)."""
    assets = Path(swagger_ui.__file__).parent
    return generate_swagger_html(
        _document_json(app).replace("</", "<\\/"),
        (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        (assets / "swagger-ui.min.css").read_text(encoding="utf-8"),
        swagger_base_url="",
        oauth2_config=None,
    )
