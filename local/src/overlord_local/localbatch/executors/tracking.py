"""What both executors share: a lazily made CloudWatch Logs client, and the containers
they started, so that `shutdown` stops every one of them (no orphans)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from overlord_local.localbatch.executors.base import RunningContainer


def default_logs_client() -> Any:
    import boto3

    return boto3.client("logs")


class TrackingExecutor:
    def __init__(
        self,
        logs_client: Any | None,
        logs_client_factory: Callable[[], Any],
        kill_grace: float,
    ) -> None:
        self._logs_client = logs_client
        self._logs_client_factory = logs_client_factory
        self._kill_grace = kill_grace
        self._live: set[Any] = set()
        self._lock = threading.Lock()

    @property
    def logs_client(self) -> Any:
        if self._logs_client is None:
            self._logs_client = self._logs_client_factory()
        return self._logs_client

    def _track(
        self, container: RunningContainer, still_running: Callable[[Any], bool] | None = None
    ) -> None:
        with self._lock:
            if still_running is not None:
                self._live = {c for c in self._live if still_running(c)}
            self._live.add(container)

    def shutdown(self) -> None:
        """Kill every container still tracked, in parallel (each may wait its grace)."""
        with self._lock:
            live, self._live = list(self._live), set()
        threads = [threading.Thread(target=c.kill, daemon=True) for c in live]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
