"""Chaos for the local stack: deliver Batch events as badly as AWS may, on purpose.

EventBridge delivers at least once, in no order, to concurrent invocations, and AWS Batch
may report an array's children before SubmitJob's answer has reached the submitter. The
local stack is kinder by default (each event once, soon after it happens), so code that
relies on kindness passes locally and fails in AWS. With chaos on:

* the event router delivers each event 1 to ``max_copies`` times (an extra copy with
  probability ``duplicate_rate`` each), every copy after its own random delay in
  ``[0, max_delay]`` seconds — so copies and events overtake one another (reordering),
  on several threads at once;
* the local Batch holds SubmitJob's answer: an array job's until one of its children has
  ended, plus ``max_delay`` so its events can arrive first (at most
  ``array_answer_wait`` seconds in all, inside the submitter's 10 s read timeout); a plain
  job's, with probability ``answer_delay_rate``, for up to ``max_answer_delay`` seconds.
  So the recorder sees a job's events, an array child's end included, before the
  submitter has recorded the run.

Every random choice comes from ``random.Random`` seeded with ``seed`` (one stream per
consumer, ``stream(name)``), so a seed replays the same choices for the same sequence of
calls; thread scheduling still varies. Turned on by ``overlord dev --chaos`` or, in both
stacks (``make dev`` and ``make up``), ``OVERLORD_CHAOS=1``; ``OVERLORD_CHAOS_SEED`` fixes
the seed (otherwise one is drawn and printed).
"""

from __future__ import annotations

import os
import random
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

ENV_SWITCH = "OVERLORD_CHAOS"
ENV_SEED = "OVERLORD_CHAOS_SEED"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


class ChaosConfigError(ValueError):
    """A chaos variable holds something that is not understood."""


def new_seed() -> int:
    return secrets.randbelow(2**31)


@dataclass(frozen=True)
class Chaos:
    seed: int = field(default_factory=new_seed)
    duplicate_rate: float = 0.5
    max_copies: int = 3
    max_delay: float = 1.0
    array_answer_wait: float = 6.0
    answer_delay_rate: float = 0.5
    max_answer_delay: float = 1.0

    def __post_init__(self) -> None:
        for name in ("duplicate_rate", "answer_delay_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ChaosConfigError(f"{name} must be between 0 and 1")
        if self.max_copies < 1:
            raise ChaosConfigError("max_copies must be at least 1")
        for name in ("max_delay", "array_answer_wait", "max_answer_delay"):
            if getattr(self, name) < 0:
                raise ChaosConfigError(f"{name} must not be negative")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Chaos | None:
        """``OVERLORD_CHAOS`` on (1/true/yes/on) → a Chaos with ``OVERLORD_CHAOS_SEED``
        or a fresh seed; off or unset → None."""
        env = os.environ if environ is None else environ
        if not switch_on(env.get(ENV_SWITCH, "")):
            return None
        return cls(seed=parse_seed(env.get(ENV_SEED)))

    def stream(self, name: str) -> ChaosStream:
        """The seeded draws of one consumer (the router, the local Batch)."""
        return ChaosStream(self, random.Random(f"{self.seed}:{name}"))

    def describe(self) -> str:
        return (
            f"chaos on, seed {self.seed} (replay: {ENV_SEED}={self.seed}): each event "
            f"delivered 1-{self.max_copies} times (extra copy p={self.duplicate_rate}), each "
            f"copy delayed 0-{self.max_delay:g} s; SubmitJob answers held (arrays: until a "
            f"child ended, at most {self.array_answer_wait:g} s)"
        )


def switch_on(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ChaosConfigError(f"{ENV_SWITCH}: expected 1/0 (or true/false), got {value!r}")


def parse_seed(value: str | None) -> int:
    if value is None or not value.strip():
        return new_seed()
    try:
        return int(value)
    except ValueError:
        raise ChaosConfigError(f"{ENV_SEED}: expected an integer, got {value!r}") from None


@dataclass
class ChaosStream:
    chaos: Chaos
    _random: random.Random
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def delivery_delays(self) -> list[float]:
        """One delay per copy of an event (1 to max_copies copies)."""
        c = self.chaos
        with self._lock:
            copies = 1
            while copies < c.max_copies and self._random.random() < c.duplicate_rate:
                copies += 1
            return [self._random.uniform(0.0, c.max_delay) for _ in range(copies)]

    def answer_delay(self) -> float:
        """How long a plain job's SubmitJob answer waits (0: not at all)."""
        c = self.chaos
        with self._lock:
            if self._random.random() >= c.answer_delay_rate:
                return 0.0
            return self._random.uniform(0.0, c.max_answer_delay)
