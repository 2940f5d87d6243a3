"""Run simulated histories: `make soak SEED=… HISTORIES=… STORE=fake|mongo`, and CI's share
(tests/simulation/test_histories.py).

    python -m tests.simulation.soak --store fake --histories 100000 [--seed N] [--workers 2]

Prints the seed and how many histories ran; on a failure, the shrunk history and the
command that replays it (the same seed finds the same failure: Hypothesis is seeded and
the scheduler is deterministic).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import logging
import multiprocessing
import multiprocessing.util
import queue
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Chunk:
    """Histories run from one seed, which replays them alone."""

    seed: int
    histories: int


def chunks(seed: int, histories: int, size: int, deadline: float | None) -> Iterator[Chunk]:
    """The soak's chunks in order, none started after `deadline` (time.monotonic). The
    first chunk's seed is the seed itself (CI's seeds replay so), the others are drawn
    from it: the same seed gives the same chunks, however many workers run them."""
    seeds = random.Random(seed)
    chunk_seed, planned = seed, 0
    while planned < histories and (deadline is None or time.monotonic() < deadline):
        chunk = Chunk(chunk_seed, min(size, histories - planned))
        yield chunk
        planned += chunk.histories
        chunk_seed = seeds.randrange(2**32)


# The store factory of this process (a worker's, or the soak's own with one worker):
# FakeStore, or MongoStore on a FerretDB of the process's own, stopped when it exits.
_make_store: Callable[[Scheduler], Any] | None = None


def start_worker(store: str) -> None:
    global _make_store
    # The services log the failures a history injects (a refused batch, a lost answer):
    # expected here, and thousands of tracebacks would bury the report.
    logging.disable(logging.ERROR)
    if store == "fake":
        _make_store = fake_store
        return
    stack = contextlib.ExitStack()
    _make_store = mongo_store_factory(stack.enter_context(ferretdb()))
    multiprocessing.util.Finalize(None, stack.close, exitpriority=10)


def run_chunk(chunk: Chunk, store: str, steps: int | None) -> tuple[Chunk, str | None]:
    """Run one chunk in this process: (the chunk, None) when it passed, else the
    failure's report (the shrunk history and the command that replays it)."""
    assert _make_store is not None, "start_worker first"
    try:
        run(_make_store, store=store, seed=chunk.seed, histories=chunk.histories, steps=steps)
    except Exception as exc:
        return chunk, "\n".join(
            [
                f"chunk seed {chunk.seed}: its history {History.first_failure} failed first, "
                f"then shrunk:\n{exc}",
                # Hypothesis adds the shrunk history as rule calls in the exception's notes.
                *getattr(exc, "__notes__", []),
                "\nthe shrunk history's operations:",
                *History.trace,
                f"\nreplay: make soak STORE={store} SEED={chunk.seed} "
                f"HISTORIES={chunk.histories} CHUNK={chunk.histories}",
            ]
        )
    return chunk, None


def run_chunks(
    plan: Iterator[Chunk], store: str, steps: int | None, workers: int
) -> Iterator[tuple[Chunk, str | None]]:
    """Each chunk's outcome as it ends; with several workers, a process each (a FerretDB
    each), at most `workers` chunks under way, the next taken from `plan` only when one
    ends (so a deadline in `plan` holds). Leaving early stops the workers."""
    if workers == 1:
        start_worker(store)
        for chunk in plan:
            yield run_chunk(chunk, store, steps)
        return
    context = multiprocessing.get_context("spawn")
    ended: queue.SimpleQueue[tuple[Chunk, str | None] | BaseException] = queue.SimpleQueue()
    with context.Pool(workers, initializer=start_worker, initargs=(store,)) as pool:

        def start(chunk: Chunk) -> None:
            pool.apply_async(
                run_chunk, (chunk, store, steps), callback=ended.put, error_callback=ended.put
            )

        running = 0
        for chunk in itertools.islice(plan, workers):
            start(chunk)
            running += 1
        while running:
            outcome = ended.get()
            if isinstance(outcome, BaseException):
                raise outcome
            running -= 1
            yield outcome
            following = next(plan, None)
            if following is not None:
                start(following)
                running += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", choices=("fake", "mongo"), default="fake")
    parser.add_argument("--histories", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--chunk", type=int, default=2_000, help="histories per seed")
    parser.add_argument(
        "--workers", type=int, default=1, help="processes running chunks side by side"
    )
    parser.add_argument("--minutes", type=float, default=None, help="start no chunk after this")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    print(
        f"soak: store={args.store} seed={seed} histories={args.histories} workers={args.workers}",
        flush=True,
    )
    started = time.monotonic()
    deadline = started + args.minutes * 60 if args.minutes else None
    plan = chunks(seed, args.histories, args.chunk, deadline)
    done = 0
    outcomes = run_chunks(plan, args.store, args.steps, max(1, args.workers))
    try:
        for chunk, failure in outcomes:
            if failure is not None:
                print(f"\nFAILED after {done} histories passed; {failure}")
                return 1
            done += chunk.histories
            rate = done / (time.monotonic() - started)
            print(f"soak: {done} histories ({rate:.0f}/s)", flush=True)
    except KeyboardInterrupt:
        elapsed = time.monotonic() - started
        print(
            f"soak: store={args.store} seed={seed} interrupted after {done} histories "
            f"passed ({elapsed:.0f} s)"
        )
        return 130
    finally:
        outcomes.close()  # stops the workers still running a chunk
    elapsed = time.monotonic() - started
    print(f"soak: store={args.store} seed={seed} histories={done} passed in {elapsed:.0f} s")
    if done < args.histories:
        print(f"soak: stopped at the time limit, {args.histories - done} histories not run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
