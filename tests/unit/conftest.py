"""A fresh in-memory fake of each port, per test (tests/unit/fakes.py)."""

from __future__ import annotations

import pytest

from tests.unit.fakes import FakeBatch, FakeLogStreams, FakeObjects, FakeStore


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def batch() -> FakeBatch:
    return FakeBatch()


@pytest.fixture
def objects() -> FakeObjects:
    return FakeObjects()


@pytest.fixture
def streams() -> FakeLogStreams:
    return FakeLogStreams()
