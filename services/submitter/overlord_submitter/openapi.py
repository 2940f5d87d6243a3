"""GET /openapi.json and GET /docs, generated from the routes and their pydantic models.

Powertools builds the document from the routes' annotations and `responses`. Two
things are adjusted, both from models, none written by hand: the bodies the handler
parses itself (JobRequest through request.py, which enforces size limits first) are
declared with their models' JSON Schema, and the 422 Powertools documents for its own
validation errors is dropped, because those are answered 400 with a Problem here.
Schemas no operation refers to (Powertools' own validation-error models) go with it:
a dangling `$ref` among them fails standard validators and client generators.
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


DESCRIPTION = (
    "HTTP request → AWS Batch job, recorded in MongoDB. Every route needs AWS SigV4 "
    "(service execute-api), this document and /docs too. Every answer of Overlord's, "
    "unknown routes included (404), is application/problem+json. API Gateway answers "
    'some requests itself, before Overlord sees them, as application/json {"message": …}: '
    "403 (unsigned, wrongly signed or not allowed by IAM), 413 (a body over 10 MB), 429 "
    "(the stage's throttling), 500 (the function failed), 503 and 504 (the function did "
    "not answer in time)."
)


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
        description=DESCRIPTION,
    )
    doc: dict[str, Any] = schema.model_dump(mode="json", by_alias=True, exclude_none=True)
    for operations in doc.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    schemas = doc.get("components", {}).get("schemas", {})
    used = _referenced(doc.get("paths", {}), schemas)
    for name in list(schemas):
        if name not in used:
            del schemas[name]
    return json.dumps(doc)


_REF = "#/components/schemas/"


def _referenced(root: Any, schemas: dict[str, Any]) -> set[str]:
    """The schema names reachable from `root` through `$ref`s, transitively."""
    found: set[str] = set()
    todo = [root]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(_REF):
                name = ref.removeprefix(_REF)
                if name not in found and name in schemas:
                    found.add(name)
                    todo.append(schemas[name])
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return found


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
