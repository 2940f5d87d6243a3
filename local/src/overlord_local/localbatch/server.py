"""Serve a ``LocalBatch`` over HTTP from a background thread (werkzeug, threaded)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from overlord_local.localbatch.api import BatchApi
from overlord_local.localbatch.executors.base import Executor
from overlord_local.localbatch.scheduler import Timings
from overlord_local.localbatch.service import EventSink, LocalBatch

log = logging.getLogger(__name__)


class _QuietHandler(WSGIRequestHandler):
    """Access lines at DEBUG on our logger instead of werkzeug's INFO."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug('"%s" %s %s', self.requestline, code, size)


class LocalBatchServer:
    """The local AWS Batch endpoint.

    >>> server = LocalBatchServer(ProcessExecutor(), port=0, on_event=router.put)
    >>> server.start()            # returns once the port is bound
    >>> boto3.client("batch", endpoint_url=server.endpoint_url)
    >>> server.stop()             # kills running jobs, stops the HTTP thread

    ``port=0`` picks a free port (read it back from ``server.port``).
    """

    def __init__(
        self,
        executor: Executor,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        on_event: EventSink | None = None,
        region: str | None = None,
        timings: Timings | None = None,
        extra_environment: Mapping[str, str] | None = None,
        **batch_kwargs: Any,
    ) -> None:
        self.batch = LocalBatch(
            executor,
            on_event=on_event,
            region=region,
            timings=timings,
            extra_environment=extra_environment,
            **batch_kwargs,
        )
        self._host = host
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            return self._port
        return int(self._server.server_port)

    @property
    def host(self) -> str:
        return self._host

    @property
    def endpoint_url(self) -> str:
        host = "127.0.0.1" if self._host in ("0.0.0.0", "") else self._host
        return f"http://{host}:{self.port}"

    def start(self) -> LocalBatchServer:
        if self._server is not None:
            return self
        self._server = make_server(
            self._host,
            self._port,
            BatchApi(self.batch),
            threaded=True,
            request_handler=_QuietHandler,
        )
        server = self._server
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.05),
            name="localbatch-http",
            daemon=True,
        )
        self._thread.start()
        log.info("local Batch listening on %s", self.endpoint_url)
        return self

    def serve_forever(self) -> None:
        """Start and block the calling thread until ``stop`` (used by the CLI)."""
        self.start()
        assert self._thread is not None
        self._thread.join()

    def stop(self) -> None:
        self.batch.shutdown()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> LocalBatchServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
