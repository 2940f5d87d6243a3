"""`make soak`: its chunks, its report of a failure, and its workers."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.simulation import soak


def test_the_first_chunk_is_the_seed_and_the_others_are_drawn_from_it():
    planned = list(soak.chunks(7, 10, 4, deadline=None))
    drawn = random.Random(7)
    assert planned == [
        soak.Chunk(7, 4),
        soak.Chunk(drawn.randrange(2**32), 4),
        soak.Chunk(drawn.randrange(2**32), 2),
    ]


def test_no_chunk_starts_after_the_deadline():
    assert list(soak.chunks(7, 10, 4, deadline=0.0)) == []


def test_a_failing_chunk_reports_its_shrunk_history_and_the_replay(monkeypatch):
    def broken_store(scheduler):
        raise RuntimeError("the store cannot be made")

    monkeypatch.setattr(soak, "_make_store", broken_store)
    chunk, failure = soak.run_chunk(soak.Chunk(11, 3), "fake", steps=2)
    assert chunk == soak.Chunk(11, 3)
    assert failure is not None
    assert "the store cannot be made" in failure
    assert "replay: make soak STORE=fake SEED=11 HISTORIES=3 CHUNK=3" in failure


@pytest.mark.timeout(300)
def test_two_workers_run_every_chunk():
    arguments = ["--histories", "6", "--chunk", "2", "--steps", "4", "--seed", "3"]
    done = subprocess.run(
        [sys.executable, "-m", "tests.simulation.soak", *arguments, "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "soak: store=fake seed=3 histories=6 passed" in done.stdout
    assert [line.split()[1] for line in done.stdout.splitlines() if "/s)" in line] == [
        "2",
        "4",
        "6",
    ]
