"""A local API Gateway (HTTP API, payload 2.0) in front of the submitter.

Each HTTP request becomes the event API Gateway would send (`payload`), the
submitter runs in this process or behind a Lambda invoke URL, and its result goes
back as HTTP. Like an HTTP API whose routes use AWS_IAM authorization, every request
but `GET /health` must be signed with SigV4 by the stack's credentials (`sigv4.py`);
anything else is 403 `{"message":"Forbidden"}` and reaches no handler, and a verified
caller's identity is passed in `requestContext.authorizer.iam`.
Routes as the deployed API's: an unknown one takes the `$default` route to the
submitter (signed, like every other), which answers problem+json 404. Like API Gateway:
bodies over 10 MB are 413 (sent once the body is read, so the client sees it), a
``Content-Length`` that is not a plain non-negative number is 400 (and the connection
is closed, since the body's end is unknown), and a function error is a 500.

    python -m overlord_local.apigateway --port 8080 --submitter-url http://submitter:8080/2015-03-31/functions/function/invocations

It verifies signatures against AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and
AWS_REGION, default us-east-1) from its environment; `--no-auth` turns that off.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from overlord_local.apigateway.payload import (
    HttpResponse,
    http_api_event,
    http_response,
    match_route,
)
from overlord_local.apigateway.sigv4 import Forbidden, Identity, Verifier
from overlord_local.lambdas import Handler, InvokeError, invoke_in_process, invoke_url

log = logging.getLogger(__name__)
MAX_PAYLOAD = 10 * 1024 * 1024  # API Gateway's request payload limit
_DIGITS = re.compile(r"[0-9]+")
OPEN_ROUTES = frozenset({"GET /health"})  # for readiness probes; AWS_IAM on AWS all the same
Invoker = Callable[[dict[str, Any]], Any]
# Local only (no such route on AWS, where CloudWatch has the figures): the handlers'
# metrics in Prometheus' text format. Open like /health, for scrapers that do not sign;
# it holds counts, never a job's data.
METRICS_PATH = "/metrics"
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def in_process(handler: Handler) -> Invoker:
    """Invoke the handler here, one request at a time as one Lambda execution environment
    does: the handler's state relies on it (Powertools' resolver keeps the current route
    in its module-level `app.context`, and the current event on its *class*, shared by
    every resolver in the process: two at once answered 500, or another request's job).
    Several at once need several processes (`overlord dev --rie`: emulators)."""
    one_at_a_time = threading.Lock()

    def invoke(event: dict[str, Any]) -> Any:
        with one_at_a_time:
            return invoke_in_process(handler, event, "overlord-submitter")

    return invoke


def via_url(url: str, timeout: float = 30.0) -> Invoker:
    return lambda event: invoke_url(url, event, timeout)


def _json_response(status: int, message: str) -> HttpResponse:
    body = json.dumps({"message": message}).encode()
    return HttpResponse(status, {"content-type": "application/json"}, body)


class _Handler(BaseHTTPRequestHandler):
    server: GatewayServer
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        path, _, query = self.path.partition("?")
        raw_length = self.headers.get("content-length")
        if raw_length is not None and not _DIGITS.fullmatch(raw_length.strip()):
            # Where the body ends is unknown: answer and drop the connection.
            self.close_connection = True
            self._send(_json_response(400, "Bad Request"), close=True)
            return
        length = int(raw_length) if raw_length is not None else 0
        if length > MAX_PAYLOAD:
            # Read it all first: a client still sending would see a broken pipe, not the 413.
            remaining = length
            while remaining > 0 and (chunk := self.rfile.read(min(remaining, 1 << 20))):
                remaining -= len(chunk)
            self._send(_json_response(413, "Request Entity Too Large"))
            return
        body = self.rfile.read(length) if length else None
        if (self.command, path) == ("GET", METRICS_PATH) and self.server.metrics is not None:
            metrics = self.server.metrics()
            self._send(HttpResponse(200, {"content-type": PROMETHEUS_TEXT}, metrics))
            return
        # No match is the $default route: the submitter answers (problem+json 404).
        route_key, _ = match_route(self.command, path)
        identity: Identity | None = None
        verifier = self.server.verifier
        if verifier is not None and route_key not in OPEN_ROUTES:
            try:
                identity = verifier.verify(
                    self.command, path, query, dict(self.headers.items()), body
                )
            except Forbidden as exc:
                log.info("403 %s %s: %s", self.command, path, exc)
                self._send(_json_response(403, "Forbidden"))
                return
        event = http_api_event(
            self.command,
            path,
            body=body,
            query=query,
            headers=dict(self.headers.items()),
            source_ip=self.client_address[0],
            authorizer=identity.as_authorizer() if identity else None,
        )
        try:
            response = http_response(self.server.invoke(event))
        except InvokeError as exc:
            log.error("submitter failed: %s", exc)
            response = _json_response(500, "Internal Server Error")
        except Exception:
            log.exception("submitter raised")
            response = _json_response(500, "Internal Server Error")
        self._send(response)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def _send(self, response: HttpResponse, *, close: bool = False) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            if name != "content-length":
                self.send_header(name, value)
        self.send_header("content-length", str(len(response.body)))
        if close:
            self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 is below the bench's 16 concurrent clients.
    request_queue_size = 128

    def __init__(
        self,
        host: str,
        port: int,
        invoke: Invoker,
        verifier: Verifier | None = None,
        metrics: Callable[[], bytes] | None = None,
    ) -> None:
        """`verifier` None: no authentication (overlord dev --no-auth); `metrics`: what
        GET /metrics answers (None: 404, as on AWS)."""
        super().__init__((host, port), _Handler)
        self.invoke = invoke
        self.verifier = verifier
        self.metrics = metrics
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> GatewayServer:
        self._thread = threading.Thread(target=self.serve_forever, name="gateway", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Local API Gateway (HTTP API) for Overlord")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--submitter-url", required=True, help="the submitter's Lambda invoke URL")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument(
        "--no-auth", action="store_true", help="accept unsigned requests (no SigV4 check)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(message)s")
    verifier = None
    if args.no_auth:
        log.warning("NO AUTHENTICATION: the gateway accepts unsigned requests (--no-auth)")
    else:
        access_key = os.environ.get("AWS_ACCESS_KEY_ID")
        secret_key = os.environ.get("AWS_SECRET_ACCESS_KEY")
        if not access_key or not secret_key:
            parser.error("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are needed (or --no-auth)")
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        verifier = Verifier(access_key, secret_key, region or "us-east-1")
    server = GatewayServer(args.host, args.port, via_url(args.submitter_url), verifier)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    log.info("gateway on http://%s:%d -> %s", args.host, server.port, args.submitter_url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
