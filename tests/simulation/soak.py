"""Run simulated histories: `make soak SEED=… HISTORIES=… STORE=fake|mongo`, and CI's share
(tests/simulation/test_histories.py).

    python -m tests.simulation.soak --store fake --histories 100000 [--seed N]

Prints the seed and how many histories ran; on a failure, the shrunk history and the
command that replays it (the same seed finds the same failure: Hypothesis is seeded and
the scheduler is deterministic).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import get_state_machine_test  # type: ignore[attr-defined]

from tests.simulation.batches import BatchDelivery
from tests.simulation.machine import History
from tests.simulation.world import HookedCollection, Scheduler
from tests.unit.fakes import FakeStore

STEPS = {"fake": 24, "mongo": 14}  # rules per history


def fake_store(scheduler: Scheduler) -> FakeStore:
    store = FakeStore()
    store.on_write = scheduler.write
    return store


def mongo_store_factory(db: Any) -> Callable[[Scheduler], Any]:
    """A MongoStore on `db`, emptied for each history, its collections reporting writes."""
    from overlord.adapters.mongo_store import MongoStore

    MongoStore(db).ensure_indexes()

    def make(scheduler: Scheduler) -> Any:
        store = MongoStore(db)
        store._indexes_ready = True
        for name in ("jobs", "runs", "logs", "items"):
            collection = getattr(store, name)
            collection.delete_many({})
            setattr(store, name, HookedCollection(collection, scheduler))
        return store

    return make


def machine(make_store: Callable[[Scheduler], Any], name: str) -> type[History]:
    """The history machine on one store, with delivery in SQS batches (batches.py)
    beside one event at a time; MongoStore's histories are also run on FakeStore and
    the two stores' documents compared (History.compare_with_twin)."""
    twin = None if name == "fake" else machine(fake_store, "fake")
    return type(
        f"{name.capitalize()}History",
        (BatchDelivery, History),
        {"make_store": staticmethod(make_store), "twin": twin, "check_every_write": twin is None},
    )


def run(
    make_store: Callable[[Scheduler], Any],
    *,
    store: str,
    seed: int,
    histories: int,
    steps: int | None = None,
) -> None:
    """Run `histories` histories from `seed`; raises the shrunk failure (AssertionError)."""
    cls = machine(make_store, store)
    test = get_state_machine_test(
        cls,
        settings=settings(
            max_examples=histories,
            stateful_step_count=steps or STEPS[store],
            deadline=None,
            derandomize=False,
            database=None,
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
            print_blob=False,
        ),
    )
    test._hypothesis_internal_use_seed = seed
    History.histories, History.first_failure = 0, None
    test()


@contextlib.contextmanager
def ferretdb() -> Iterator[Any]:
    from pymongo import MongoClient

    from overlord_local.devstack.ferretdb import FerretDB

    server = FerretDB(Path(tempfile.mkdtemp(prefix="soak-ferretdb-")))
    uri = server.start()
    client: MongoClient[Any] = MongoClient(uri, tz_aware=True)
    try:
        yield client["soak"]
    finally:
        client.close()
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", choices=("fake", "mongo"), default="fake")
    parser.add_argument("--histories", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--chunk", type=int, default=2_000, help="histories per seed")
    parser.add_argument(
        "--minutes", type=float, default=None, help="stop after the chunk that passes this"
    )
    args = parser.parse_args(argv)
    # The services log the failures a history injects (a refused batch, a lost answer):
    # expected here, and thousands of tracebacks would bury the report.
    logging.disable(logging.ERROR)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    print(f"soak: store={args.store} seed={seed} histories={args.histories}", flush=True)
    started = time.monotonic()
    done = 0
    with contextlib.ExitStack() as stack:
        make = (
            fake_store
            if args.store == "fake"
            else mongo_store_factory(stack.enter_context(ferretdb()))
        )
        # Chunks of histories, each seeded from the seed: progress is printed, and a
        # failure names the chunk's seed, which replays it alone.
        chunk_seeds = random.Random(seed)
        chunk_seed = seed  # the first chunk's is the seed itself: CI's seeds replay so
        deadline = started + args.minutes * 60 if args.minutes else None
        while done < args.histories and (deadline is None or time.monotonic() < deadline):
            size = min(args.chunk, args.histories - done)
            try:
                run(make, store=args.store, seed=chunk_seed, histories=size, steps=args.steps)
            except KeyboardInterrupt:
                elapsed = time.monotonic() - started
                print(
                    f"soak: store={args.store} seed={seed} interrupted after {done} histories "
                    f"passed ({elapsed:.0f} s; chunk seed {chunk_seed} unfinished)"
                )
                return 130
            except Exception as exc:
                print(
                    f"\nFAILED after {done} histories (chunk seed {chunk_seed}; its history "
                    f"{History.first_failure} failed first, then shrunk):\n{exc}"
                )
                # Hypothesis adds the shrunk history as rule calls in the exception's notes.
                print("\n".join(getattr(exc, "__notes__", [])))
                print("\nthe shrunk history's operations:\n" + "\n".join(History.trace))
                print(
                    f"\nreplay: make soak STORE={args.store} SEED={chunk_seed} "
                    f"HISTORIES={size} CHUNK={size}"
                )
                return 1
            done += size
            chunk_seed = chunk_seeds.randrange(2**32)
            rate = done / (time.monotonic() - started)
            print(f"soak: {done} histories ({rate:.0f}/s)", flush=True)
    elapsed = time.monotonic() - started
    print(f"soak: store={args.store} seed={seed} histories={done} passed in {elapsed:.0f} s")
    if done < args.histories:
        print(f"soak: stopped at the time limit, {args.histories - done} histories not run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
