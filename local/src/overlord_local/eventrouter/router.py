"""Deliver events to the targets of the rules they match, at least once, off-thread.

``put`` only enqueues, so the Batch state machine never waits on a target. Worker
threads (``workers``, ``DEFAULT_WORKERS`` unless told) take events off the queue and, for
every matching rule, deliver to each target — concurrently and in no guaranteed order,
events of one job included, as EventBridge invokes a Lambda target (the recorder must
give the same documents whatever the interleaving; one worker would hide it) — with
tenacity: up to ``max_attempts`` tries with exponential backoff
(``backoff_initial`` doubling up to ``backoff_max`` seconds). A target that still
fails gets the event appended to the dead-letter file as one JSON line
``{"time", "rule", "target", "attempts", "error", "event"}`` and an ERROR log line;
like an EventBridge DLQ, the event itself is kept whole so it can be replayed.

With ``chaos`` (``overlord_local.chaos``) ``put`` also duplicates and delays: each event is
held as 1 to ``max_copies`` copies, each released to the workers after its own seeded
random delay, so events of one job overtake each other and arrive more than once, as
EventBridge's at-least-once, unordered delivery allows.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import json
import logging
import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tenacity import Retrying, stop_after_attempt, wait_exponential

from overlord_local.chaos import Chaos
from overlord_local.eventrouter.patterns import matches
from overlord_local.eventrouter.targets import Handler, Target, as_target

log = logging.getLogger(__name__)
Event = dict[str, Any]
_STOP = object()
DEFAULT_WORKERS = 4


@dataclass
class Rule:
    pattern: dict[str, Any]
    targets: list[Target]
    name: str = "rule"


@dataclass
class RouterStats:
    delivered: int = 0
    failed: int = 0
    unmatched: int = 0
    dead_letters: list[dict[str, Any]] = field(default_factory=list)


class EventRouter:
    """A small local EventBridge bus: rules, targets, retries and a dead-letter file."""

    def __init__(
        self,
        rules: Iterable[Rule] = (),
        *,
        dead_letter_path: str | Path | None = None,
        max_attempts: int = 4,
        backoff_initial: float = 0.2,
        backoff_max: float = 5.0,
        workers: int = DEFAULT_WORKERS,
        chaos: Chaos | None = None,
    ) -> None:
        self.rules: list[Rule] = list(rules)
        self.dead_letter_path = Path(dead_letter_path) if dead_letter_path else None
        self.max_attempts = max_attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stats = RouterStats()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._pending = 0
        self._idle = threading.Condition()
        self.workers = workers
        self._threads: list[threading.Thread] = []
        self._start_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self.chaos = chaos
        self._chaos = chaos.stream("eventrouter") if chaos is not None else None
        # Chaos only: copies waiting for their release time, (due, order, event).
        self._held: list[tuple[float, int, Event]] = []
        self._held_changed = threading.Condition()
        self._order = itertools.count()
        self._releaser: threading.Thread | None = None

    def add_rule(
        self, pattern: dict[str, Any], *targets: Target | Handler | str, name: str | None = None
    ) -> Rule:
        rule = Rule(pattern, [as_target(t) for t in targets], name or f"rule-{len(self.rules) + 1}")
        self.rules.append(rule)
        return rule

    # -- producer side -------------------------------------------------------------
    def put(self, event: Event) -> None:
        """Enqueue one event (with chaos: hold its copies); returns at once."""
        self._ensure_started()
        if self._chaos is None:
            with self._idle:
                self._pending += 1
            self._queue.put(event)
            return
        delays = self._chaos.delivery_delays()
        log.debug(
            "chaos: event %s delivered %d time(s), after %s s",
            event.get("id"),
            len(delays),
            ", ".join(f"{d:.2f}" for d in delays),
        )
        with self._idle:
            self._pending += len(delays)
        now = time.monotonic()
        with self._held_changed:
            for delay in delays:
                # A copy each: a target that changes its event must not change another's.
                heapq.heappush(self._held, (now + delay, next(self._order), copy.deepcopy(event)))
            self._held_changed.notify()

    __call__ = put

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every queued event has been delivered or dead-lettered."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            while self._pending:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def stop(self, timeout: float | None = 10.0) -> bool:
        """Drain (up to ``timeout``) and stop the worker; True when nothing was left behind."""
        drained = self.drain(timeout)
        with self._start_lock:
            threads, self._threads = self._threads, []
            releaser, self._releaser = self._releaser, None
        if releaser is not None:
            with self._held_changed:
                self._held.clear()  # only left when the drain timed out
                self._held_changed.notify()
            releaser.join(timeout)
        for _ in threads:
            self._queue.put(_STOP)
        for thread in threads:
            thread.join(timeout)
        return drained

    # -- worker side -----------------------------------------------------------------
    def _ensure_started(self) -> None:
        with self._start_lock:
            while len(self._threads) < self.workers:
                thread = threading.Thread(
                    target=self._work, name=f"eventrouter-{len(self._threads)}", daemon=True
                )
                thread.start()
                self._threads.append(thread)
            if self._chaos is not None and self._releaser is None:
                self._releaser = threading.Thread(
                    target=self._release, name="eventrouter-chaos", daemon=True
                )
                self._releaser.start()

    def _release(self) -> None:
        """Chaos: hand each held copy to the workers once its delay has passed."""
        with self._held_changed:
            while self._releaser is threading.current_thread():
                if not self._held:
                    self._held_changed.wait()
                    continue
                due = self._held[0][0] - time.monotonic()
                if due > 0:
                    self._held_changed.wait(due)
                    continue
                _, _, event = heapq.heappop(self._held)
                self._queue.put(event)

    def _work(self) -> None:
        while True:
            event = self._queue.get()
            if event is _STOP:
                return
            try:
                self.route(event)
            except Exception:
                log.exception("routing an event failed")
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def route(self, event: Event) -> None:
        """Deliver one event synchronously (the worker's job; public for tests and replay)."""
        matched = [rule for rule in self.rules if matches(rule.pattern, event)]
        if not matched:
            with self._stats_lock:
                self.stats.unmatched += 1
            log.debug("event %s matched no rule", event.get("id"))
        for rule in matched:
            for target in rule.targets:
                self._deliver(rule, target, event)

    def _deliver(self, rule: Rule, target: Target, event: Event) -> None:
        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_exponential(
                multiplier=self.backoff_initial, min=self.backoff_initial, max=self.backoff_max
            ),
            reraise=True,
            before_sleep=lambda state: log.warning(
                "target %s failed (attempt %d): %s; retrying",
                target.name,
                state.attempt_number,
                state.outcome.exception() if state.outcome else None,
            ),
        )
        try:
            retrying(target.deliver, event)
        except Exception as exc:
            with self._stats_lock:
                self.stats.failed += 1
            self._dead_letter(rule, target, event, exc)
        else:
            with self._stats_lock:
                self.stats.delivered += 1

    def _dead_letter(self, rule: Rule, target: Target, event: Event, error: Exception) -> None:
        record = {
            "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "rule": rule.name,
            "target": target.name,
            "attempts": self.max_attempts,
            "error": f"{type(error).__name__}: {error}",
            "event": event,
        }
        with self._stats_lock:
            self.stats.dead_letters.append(record)
        log.error(
            "event %s to %s dead-lettered after %d attempts: %s",
            event.get("id"),
            target.name,
            self.max_attempts,
            record["error"],
        )
        if self.dead_letter_path is not None:
            self.dead_letter_path.parent.mkdir(parents=True, exist_ok=True)
            with self.dead_letter_path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
