"""A follower (`overlord logs --follow`, any client asking again from `resume`) sees every
line of a job exactly once, although lines are not stored in reading order (issue 23,
defect 6; the simulator checks it over generated histories: tests/simulation)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from overlord.domain import schema
from overlord.domain.errors import InvalidRequest
from overlord.services import queries
from tests.unit.fakes import T0
from tests.unit.test_services import post, request

Identity = tuple[str, int, str, int]


def poll(store, job_id: str, cursor: str | None, seen: list[Identity], limit: int = 2) -> str:
    """Read every line there is now, page by page; the cursor to ask again with."""
    while True:
        page = queries.logs_of(store, job_id, queries.LogQuery(cursor=cursor, limit=limit))
        seen += [(x["batch_job_id"], x["attempt"], x["kind"], x["seq"]) for x in page["lines"]]
        cursor = page["resume"]
        if not page["next"]:
            return cursor


def line(sub, attempt: int, seq: int, kind: str = schema.LogKind.LOG) -> schema.LogDocument:
    return schema.log_record(
        job_id=sub.job_id,
        batch_job_id=sub.batch_job_id,
        attempt=attempt,
        kind=kind,
        seq=seq,
        ts=T0 + timedelta(seconds=seq),
        message=f"{kind} {attempt}.{seq}",
    )


def state(sub, status: str) -> schema.LogDocument:
    return schema.state_record(sub.job_id, sub.batch_job_id, status, T0, None)


def test_lines_stored_behind_what_the_follower_read_come_once_each(store, batch, objects):
    sub = post(store, batch, objects)
    seen: list[Identity] = []
    cursor = poll(store, sub.job_id, None, seen)  # the submission and SUBMITTED lines
    store.append_logs([state(sub, "RUNNING")])
    cursor = poll(store, sub.job_id, cursor, seen)
    # PENDING's event delivered late (behind RUNNING); then the terminal copy: the
    # result and the attempt's lines, before the terminal state line.
    store.append_logs([state(sub, "PENDING")])
    store.append_logs([line(sub, 0, 0, schema.LogKind.RESULT), line(sub, 1, 0), line(sub, 1, 1)])
    cursor = poll(store, sub.job_id, cursor, seen)
    store.append_logs([state(sub, "SUCCEEDED")])
    # A log line stored behind a gap (its predecessor's writer still at work) waits.
    store.append_logs([line(sub, 1, 3)])
    cursor = poll(store, sub.job_id, cursor, seen)
    assert (sub.batch_job_id, 1, "log", 3) not in seen
    assert (sub.batch_job_id, 0, "state", state(sub, "SUCCEEDED")["seq"]) in seen
    # Late lines, copied after the terminal state line (reconcile).
    store.append_logs([line(sub, 1, 2), line(sub, 1, 4)])
    cursor = poll(store, sub.job_id, cursor, seen)
    stored = [(x["batch_job_id"], x["attempt"], x["kind"], x["seq"]) for x in store.logs.values()]
    assert sorted(seen) == sorted(stored)
    assert len(seen) == len(set(seen))
    # Nothing new: nothing again.
    again: list[Identity] = []
    poll(store, sub.job_id, cursor, again)
    assert again == []


def test_a_first_read_is_in_reading_order_and_next_pages_through_it(store, batch, objects):
    sub = post(store, batch, objects)
    store.append_logs(
        [line(sub, 1, 1), state(sub, "SUCCEEDED"), line(sub, 1, 0), state(sub, "RUNNING")]
    )
    whole = queries.logs_of(store, sub.job_id, queries.LogQuery())
    paged: list[Identity] = []
    poll(store, sub.job_id, None, paged, limit=1)
    identities = [(x["batch_job_id"], x["attempt"], x["kind"], x["seq"]) for x in whole["lines"]]
    assert paged == identities
    assert [x["kind"] for x in whole["lines"]] == [
        "submission",
        "state",
        "state",
        "log",
        "log",
        "state",
    ]


def test_a_cursor_of_another_job_is_400_naming_cursor(store, batch, objects):
    one = post(store, batch, objects)
    other = post(store, batch, objects, request(message="other"))
    cursor = queries.logs_of(store, one.job_id, queries.LogQuery())["resume"]
    with pytest.raises(InvalidRequest, match=r"^cursor:"):
        queries.logs_of(store, other.job_id, queries.LogQuery(cursor=cursor))
