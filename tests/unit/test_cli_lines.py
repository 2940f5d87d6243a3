"""How `overlord logs` prints a line: the message (level and time aside), no raw markup."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from overlord_local import client_commands

WORKER_LINE = {
    "level": "INFO",
    "location": "sleep:23",
    "message": "sleeping",
    "timestamp": "2026-12-07 06:40:01,123+0000",
    "service": "overlord-worker",
    "seconds": 20,
}


def _line(kind: str, message: str, **extra: object) -> dict[str, object]:
    return {
        "job_id": "j",
        "batch_job_id": "b",
        "run": 1,
        "attempt": 1 if kind == "log" else 0,
        "kind": kind,
        "seq": 0,
        "ts": "2026-12-07T06:40:01.123Z",
        "message": message,
        **extra,
    }


@pytest.fixture
def printed(monkeypatch):
    console = Console(record=True, width=200, color_system=None, force_terminal=False)
    monkeypatch.setattr(client_commands, "console", console)
    return console


@pytest.mark.parametrize("kind", ["state", "log", "result", "submission"])
def test_a_followed_line_prints_no_raw_markup(printed, kind):
    client_commands._print_line(_line(kind, "RUNNING [x]"), 0.0)
    text = printed.export_text()
    assert "[dim]" not in text and "[/]" not in text and "[bold]" not in text, text
    assert "RUNNING [x]" in text  # the message's own brackets are kept


def test_a_workers_json_line_shows_its_message_level_and_time_aside(printed):
    client_commands._print_line(_line("log", json.dumps(WORKER_LINE)), 0.0)
    text = printed.export_text()
    assert "sleeping" in text and "INFO" in text
    assert '"location"' not in text and "{" not in text, text


def test_a_plain_text_line_is_printed_as_it_is(printed):
    client_commands._print_line(_line("log", "hello {not json"), 0.0)
    assert "hello {not json" in printed.export_text()


def test_logs_output_json_prints_the_whole_line(printed):
    line = _line("log", json.dumps(WORKER_LINE))
    client_commands._print_json_line(line)
    assert json.loads(printed.export_text()) == line
