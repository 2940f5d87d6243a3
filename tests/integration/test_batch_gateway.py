"""BatchGateway.submit over real HTTP: which failures mean Batch created nothing
(BatchUnavailable, BatchThrottled, BatchRejected) and which leave it unknown
(SubmitOutcomeUnknown: the claim is then held until ListJobs would list the job)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from overlord.adapters import aws
from overlord.adapters.batch import BatchGateway, _transport_error
from overlord.domain.errors import (
    BatchRejected,
    BatchThrottled,
    BatchUnavailable,
    SubmitOutcomeUnknown,
)
from overlord.domain.submission import SubmitRequest
from tests.conftest import environment

REQUEST = SubmitRequest("job-1", "q", "overlord-echo", {}, attempts=1)


def _answering(status: int, error_type: str) -> Callable[[BaseHTTPRequestHandler], None]:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        body = json.dumps({"__type": error_type, "message": "sim"}).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("x-amzn-ErrorType", error_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return answer


def _hanging_up(handler: BaseHTTPRequestHandler) -> None:
    """Reads the request, then closes the connection without a word."""
    handler.close_connection = True
    handler.connection.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def batch_at(url: str) -> Iterator[None]:
    """The submitter's Batch client pointed at `url`, for this block only."""
    with environment(
        AWS_ENDPOINT_URL_BATCH=url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    ):
        aws.reset_clients()
        try:
            yield
        finally:
            aws.reset_clients()


@pytest.fixture
def batch_answering() -> Iterator[Callable[[Callable[[BaseHTTPRequestHandler], None]], None]]:
    how: list[Callable[[BaseHTTPRequestHandler], None]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            how[0](self)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with batch_at(f"http://127.0.0.1:{server.server_address[1]}"):
            yield how.append
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (_answering(500, "ServerException"), SubmitOutcomeUnknown),
        (_answering(503, "ServiceUnavailableException"), SubmitOutcomeUnknown),
        (_hanging_up, SubmitOutcomeUnknown),
        (_answering(429, "TooManyRequestsException"), BatchThrottled),
        (_answering(400, "ClientException"), BatchRejected),
    ],
    ids=["500", "503", "connection-closed", "throttled", "refused"],
)
def test_what_a_failed_submitjob_says_about_the_job(batch_answering, answer, expected):
    batch_answering(answer)
    with pytest.raises(expected) as raised:
        BatchGateway("q").submit(REQUEST)
    assert type(raised.value) is expected


def test_no_connection_means_nothing_was_created():
    with batch_at("http://127.0.0.1:9"), pytest.raises(BatchUnavailable) as raised:
        BatchGateway("q").submit(REQUEST)
    assert not isinstance(raised.value, SubmitOutcomeUnknown), raised.value


@pytest.mark.parametrize(
    ("error", "unknown"),
    [
        (ReadTimeoutError(endpoint_url="http://batch"), True),
        (ConnectionClosedError(endpoint_url="http://batch"), True),
        (EndpointConnectionError(endpoint_url="http://batch"), False),
        (ConnectTimeoutError(endpoint_url="http://batch"), False),
    ],
)
def test_a_read_timeout_leaves_the_outcome_unknown(error, unknown):
    """A read timeout takes NO_RETRY_READ_SECONDS (10 s) to happen over HTTP: its
    classification is checked on botocore's own exception."""
    assert isinstance(_transport_error(error), SubmitOutcomeUnknown) is unknown
