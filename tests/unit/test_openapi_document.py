"""The submitter's OpenAPI document passes a standard validator (client generators
refuse a document with dangling references)."""

from __future__ import annotations

from openapi_spec_validator import validate

from overlord_submitter import openapi
from overlord_submitter.handler import app


def test_the_openapi_document_validates() -> None:
    validate(openapi.document(app))
