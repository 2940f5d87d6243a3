"""`overlord submit --wait` / `logs --follow`: a state line stored after the terminal one
(events are delivered in any order) is still shown."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from overlord_local import client_commands
from overlord_local.client import ApiResponse


@dataclass
class LateRunningLine:
    """An API whose job has SUCCEEDED from the first read, and whose RUNNING line is
    stored only after the follower has read the terminal one."""

    reads: int = 0
    lines: list[dict[str, Any]] = field(
        default_factory=lambda: [{"kind": "state", "status": s} for s in ("SUBMITTED", "SUCCEEDED")]
    )
    base_url: str = "http://api.invalid"

    def request(self, method: str, path: str, *, query: Any = None, body: Any = None) -> Any:
        if path.endswith("/logs"):
            self.reads += 1
            if self.reads == 3:
                self.lines.append({"kind": "state", "status": "RUNNING"})
            seen = int((query or {}).get("cursor") or 0)
            page = {"lines": self.lines[seen:], "resume": str(len(self.lines)), "next": False}
            return ApiResponse(200, {}, page)
        return ApiResponse(200, {}, {"job_id": "j", "status": "SUCCEEDED"})


def test_a_line_stored_after_the_end_is_still_followed(monkeypatch, capsys) -> None:
    monkeypatch.setattr(client_commands, "POLL_SECONDS", 0.01)
    monkeypatch.setattr(client_commands, "SETTLE_SECONDS", 0.2)
    api = LateRunningLine()
    job = client_commands.follow(api, "j", None, wait=True, as_json=True)  # type: ignore[arg-type]
    assert job["status"] == "SUCCEEDED"
    printed = [json.loads(x)["status"] for x in capsys.readouterr().out.splitlines() if x]
    assert printed == ["SUBMITTED", "SUCCEEDED", "RUNNING"]


def test_without_wait_one_read_is_all(capsys) -> None:
    api = LateRunningLine()
    client_commands.follow(api, "j", None, wait=False, as_json=True)  # type: ignore[arg-type]
    assert api.reads == 1
