"""moto server in a thread of the dev process, its dispatcher remembering each host's
backend.

moto's `DomainDispatcherApplication` infers a request's host (`s3.us-east-1…`) from its
signature, then matches it against the URL patterns of every backend in turn (~180
regular expressions; S3 is ~140th), under one lock, at every request. py-spy on the dev
process during a 500-item array put ~21 % of its samples there: each child costs ~7
requests (its item, its result, its log stream and lines; the recorder reading them).
A host's backend never changes, so the dispatcher here looks each host up once.
"""

from __future__ import annotations

from typing import Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server


class RememberingDispatcher(DomainDispatcherApplication):
    """moto's dispatcher, with each host's backend found once."""

    def __init__(self, create_app: Any) -> None:
        super().__init__(create_app)
        self._backends: dict[str | None, Any] = {}

    def get_backend_for_host(self, host: str | None) -> Any:
        # Called under the dispatcher's own lock (get_application).
        if host not in self._backends:
            self._backends[host] = super().get_backend_for_host(host)
        return self._backends[host]


class MotoServer(ThreadedMotoServer):
    """`moto.server.ThreadedMotoServer` serving through `RememberingDispatcher`."""

    def _server_entry(self) -> None:
        app = RememberingDispatcher(create_backend_app)
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()
