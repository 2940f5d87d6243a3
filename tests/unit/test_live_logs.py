"""GET /jobs/{id}/logs while a run is RUNNING: its lines come live from its stream, and a
follower's cursor carries over when the copy lands (no line twice, none skipped)."""

from __future__ import annotations

from datetime import timedelta

from overlord.domain.observation import Attempt, RunObservation
from overlord.domain.request import validate_job_request
from overlord.ports import LogFilter, LogLine
from overlord.services import queries, record, submit
from overlord_contracts.bucket_layout import result_key
from tests.unit.fakes import CONFIG, T0


def _post(store, batch, objects):
    request = validate_job_request({"task": "echo", "parameters": {"message": "hi"}})
    return submit.submit_job(store, batch, objects, CONFIG, request)


def _observe(sub, status, second, attempts=(), stream=None):
    return RunObservation(
        batch_job_id=sub.batch_job_id,
        job_id=sub.job_id,
        status=status,
        observed_at=T0 + timedelta(seconds=second),
        attempts=tuple(attempts),
        log_stream=stream,
    )


def _running(store, batch, objects, streams, stream="s1"):
    sub = _post(store, batch, objects)
    streams.streams[stream] = []
    record.record_observation(store, streams, objects, _observe(sub, "RUNNING", 1, stream=stream))
    return sub


def _follow(store, streams, job_id, cursor, limit=1000, **query):
    """One poll of a follower: every page there is now; returns (lines, resume)."""
    lines = []
    while True:
        page = queries.logs_of(
            store, job_id, queries.LogQuery(cursor=cursor, limit=limit, **query), streams
        )
        lines += page["lines"]
        cursor = page["resume"]
        if not page["next"]:
            return lines, cursor


def test_a_running_attempts_lines_are_served_before_the_copy(store, batch, objects, streams):
    sub = _running(store, batch, objects, streams)
    streams.streams["s1"] += [LogLine(T0, "one"), LogLine(T0, "two")]
    page = queries.logs_of(store, sub.job_id, queries.LogQuery(), streams)
    assert [(x["kind"], x["message"]) for x in page["lines"]][-2:] == [
        ("log", "one"),
        ("log", "two"),
    ]
    assert [x["seq"] for x in page["lines"] if x["kind"] == "log"] == [0, 1]
    assert not any(x["kind"] == "log" for x in store.logs.values())  # nothing written


def test_without_streams_the_read_side_serves_only_what_is_stored(store, batch, objects, streams):
    sub = _running(store, batch, objects, streams)
    streams.streams["s1"] += [LogLine(T0, "one")]
    page = queries.logs_of(store, sub.job_id, queries.LogQuery())
    assert [x["kind"] for x in page["lines"]] == ["submission", "state", "state"]


def test_a_follower_sees_each_line_once_across_the_copy(store, batch, objects, streams):
    sub = _running(store, batch, objects, streams)
    seen, cursor = _follow(store, streams, sub.job_id, None, limit=2)
    streams.streams["s1"] += [LogLine(T0, "one"), LogLine(T0, "two"), LogLine(T0, "three")]
    more, cursor = _follow(store, streams, sub.job_id, cursor, limit=2)
    seen += more
    streams.streams["s1"] += [LogLine(T0, "four")]
    ended = _observe(sub, "SUCCEEDED", 9, [Attempt(1, T0, T0, 0, None, "s1")], "s1")
    record.record_observation(store, streams, objects, ended)
    more, cursor = _follow(store, streams, sub.job_id, cursor, limit=2)
    seen += more
    everything, _ = _follow(store, streams, sub.job_id, None)
    assert [(x["kind"], x["message"]) for x in seen] == [
        (x["kind"], x["message"]) for x in everything
    ]
    assert [x["message"] for x in seen if x["kind"] == "log"] == ["one", "two", "three", "four"]
    assert seen[-1]["kind"] == "state" and seen[-1]["status"] == "SUCCEEDED"


def test_a_line_read_live_and_from_the_copy_in_one_page_is_one_line(store, batch, objects, streams):
    sub = _running(store, batch, objects, streams)
    streams.streams["s1"] += [LogLine(T0, "one")]
    # The copy lands, but the run was read before it did: both reads find the line.
    run = store.get_run(sub.batch_job_id)
    ended = _observe(sub, "SUCCEEDED", 9, [Attempt(1, T0, T0, 0, None, "s1")], "s1")
    record.record_observation(store, streams, objects, ended)
    store.get_run = lambda _id: run  # type: ignore[method-assign]
    lines = queries.logs_of(store, sub.job_id, queries.LogQuery(), streams)["lines"]
    assert [x["message"] for x in lines if x["kind"] == "log"] == ["one"]


def test_a_retried_runs_attempts_are_live_in_attempt_order(store, batch, objects, streams):
    sub = _running(store, batch, objects, streams, stream="a1")
    streams.streams["a1"] += [LogLine(T0, "first try")]
    streams.streams["a2"] = [LogLine(T0, "second try")]
    failed_once = [Attempt(1, T0, T0, 1, None, "a1")]
    record.record_observation(
        store, streams, objects, _observe(sub, "RUNNING", 5, failed_once, stream="a2")
    )
    lines, _ = _follow(store, streams, sub.job_id, None)
    logs = [(x["attempt"], x["message"]) for x in lines if x["kind"] == "log"]
    assert logs == [(1, "first try"), (2, "second try")]
    only_two = queries.LogQuery(where=LogFilter(attempt=2))
    lines = queries.logs_of(store, sub.job_id, only_two, streams)["lines"]
    assert [x["message"] for x in lines] == ["second try"]


def test_a_running_line_stored_after_the_live_lines_still_reaches_the_follower(
    store, batch, objects, streams
):
    """Live lines are served as soon as the run has a stream; a state line stored after
    a follower read them (the recorder stopped between the run and its line) comes on
    its next poll: its cursor is what it has seen, not a position."""
    sub = _running(store, batch, objects, streams)
    streams.streams["s1"] += [LogLine(T0, "one")]
    running_line = next(
        k for k, x in store.logs.items() if x["kind"] == "state" and x["status"] == "RUNNING"
    )
    line = store.logs.pop(running_line)  # the status moved; its line is not written yet
    seen, cursor = _follow(store, streams, sub.job_id, None)
    assert [x["message"] for x in seen if x["kind"] == "log"] == ["one"]
    store.append_logs([line])
    more, _ = _follow(store, streams, sub.job_id, cursor)
    assert [(x["kind"], x.get("status")) for x in more] == [("state", "RUNNING")]


def test_a_kind_filter_without_log_reads_no_stream(store, batch, objects, streams):
    sub = _running(store, batch, objects, streams)
    streams.streams["s1"] += [LogLine(T0, "one")]
    streams.read = None  # type: ignore[assignment]  # would raise if called
    query = queries.LogQuery(where=LogFilter(kinds=("state",)))
    lines = queries.logs_of(store, sub.job_id, query, streams)["lines"]
    assert {x["kind"] for x in lines} == {"state"}


def test_the_terminal_state_line_stored_after_the_result_reaches_the_follower(
    store, batch, objects, streams
):
    """The recorder stores the result line before the status moves and the terminal
    state line is written: a follower that got the result first still gets that line,
    once (issue 23, defect 6)."""
    sub = _running(store, batch, objects, streams)
    objects.put_text(result_key(sub.job_id, sub.batch_job_id), '{"ok": true}')
    ended = _observe(sub, "SUCCEEDED", 9, [Attempt(1, T0, T0, 0, None, "s1")], "s1")
    appended = store.append_logs
    # Stop between the copy and the state line: the result is stored, the state is not.
    store.append_logs = lambda lines: appended([x for x in lines if x["kind"] != "state"])  # type: ignore[method-assign]
    record.record_observation(store, streams, objects, ended)
    seen, cursor = _follow(store, streams, sub.job_id, None)
    assert seen[-1]["kind"] == "result"
    store.append_logs = appended  # type: ignore[method-assign]
    record.record_observation(store, streams, objects, ended)  # redelivered
    more, _ = _follow(store, streams, sub.job_id, cursor)
    assert [(x["kind"], x.get("status")) for x in more] == [("state", "SUCCEEDED")]
