"""CI's share of the simulator: generated histories on FakeStore and on MongoStore (the
session's FerretDB), from a fresh seed each run, printed at the end of the session.
Each MongoStore history is run again on FakeStore and the documents compared.

SIM_SEED replays a seed; SIM_FAKE_HISTORIES / SIM_MONGO_HISTORIES change the counts
(`make soak` runs many more: tests/simulation/soak.py).
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator

import pytest

from tests.simulation import soak
from tests.simulation.conftest import PROPERTY
from tests.simulation.machine import History

FAKE_HISTORIES = int(os.environ.get("SIM_FAKE_HISTORIES", "2000"))
MONGO_HISTORIES = int(os.environ.get("SIM_MONGO_HISTORIES", "200"))


def fresh_seed(store: str, histories: int) -> tuple[int, str]:
    """A seed (SIM_SEED, else a fresh one) and the line that names it and its replay,
    recorded on the test's report (printed by tests/conftest.py)."""
    seed = int(os.environ.get("SIM_SEED") or random.SystemRandom().randrange(2**32))
    line = (
        f"{store}: seed {seed}, {histories} histories "
        f"(replay: make soak STORE={store} SEED={seed} HISTORIES={histories} CHUNK={histories})"
    )
    return seed, line


@contextlib.contextmanager
def seed_on_failure(line: str) -> Iterator[None]:
    """The seed and the replay command on the failure itself, beside the report."""
    try:
        yield
    except BaseException as exc:
        exc.add_note(line)
        raise


@pytest.mark.timeout(900)
def test_generated_histories_on_the_fake_store(record_property):
    seed, line = fresh_seed("fake", FAKE_HISTORIES)
    record_property(PROPERTY, line)
    with seed_on_failure(line):
        soak.run(soak.fake_store, store="fake", seed=seed, histories=FAKE_HISTORIES)


@pytest.mark.timeout(900)
def test_generated_histories_on_mongodb(db, record_property):
    seed, line = fresh_seed("mongo", MONGO_HISTORIES)
    record_property(PROPERTY, line)
    before = History.twins_compared, History.twins_diverged
    with seed_on_failure(line):
        soak.run(soak.mongo_store_factory(db), store="mongo", seed=seed, histories=MONGO_HISTORIES)
    compared = History.twins_compared - before[0]
    diverged = History.twins_diverged - before[1]
    record_property(
        PROPERTY,
        f"mongo: {compared} histories also run on FakeStore, documents equal; "
        f"{diverged} left uncompared (the two stores' interleavings led Batch apart)",
    )
    # Most histories must be compared, or the comparison proves nothing.
    assert compared >= MONGO_HISTORIES // 2, (compared, diverged)
