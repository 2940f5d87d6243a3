"""Serve the console on 127.0.0.1 (never another interface: it signs as the user)."""

from __future__ import annotations

import threading
import webbrowser

import uvicorn

from overlord_local.client import ApiClient
from overlord_local.ui.app import create_app

HOST = "127.0.0.1"


def serve(api: ApiClient, port: int, *, open_browser: bool) -> None:
    """Until Ctrl-C (uvicorn handles SIGINT/SIGTERM)."""
    config = uvicorn.Config(
        create_app(api), host=HOST, port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    if open_browser:

        def _open() -> None:
            # Once the server listens, so that the first page loads.
            while not server.started and not server.should_exit:
                threading.Event().wait(0.1)
            if server.started:
                webbrowser.open(f"http://{HOST}:{port}/jobs")

        threading.Thread(target=_open, daemon=True).start()
    server.run()
