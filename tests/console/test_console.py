"""The console's pages in headless chromium, against `overlord dev` (see conftest.py)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
import uuid
from typing import Any

from tests.console.conftest import TIMEOUT_MS, screenshot
from tests.e2e.conftest import Stack

JOB_WAIT_MS = 180_000


def _status_is(page: Any, status: str) -> None:
    page.locator("#job-status .status", has_text=status).wait_for(timeout=JOB_WAIT_MS)


def _log_line(page: Any, text: str) -> Any:
    return page.locator("#logs li", has_text=text)


def test_a_job_submitted_through_the_form_shows_succeeded_and_its_log_line(page, dev_stack: Stack):
    message = f"hello from the form {uuid.uuid4().hex[:8]}"
    page.goto("/submit")
    page.get_by_role("link", name="echo").click()
    page.get_by_label("message").fill(message)
    page.get_by_label("Tags (key=value, one a line)").fill("team=console")
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url("**/jobs/job-*")
    _status_is(page, "SUCCEEDED")
    _log_line(page, message).wait_for(timeout=JOB_WAIT_MS)
    assert page.locator("#result").inner_text().count(message) == 1
    screenshot(page, "job")
    page.goto("/jobs?tag=team%3Dconsole")
    assert page.locator("#job-rows tr").count() == 1


def test_the_apis_field_errors_are_shown_next_to_the_fields(page):
    page.goto("/submit/sleep")
    page.get_by_label("seconds").fill("-5")
    page.get_by_role("button", name="Submit").click()
    error = page.locator('.field-error[data-field="parameters.seconds"]')
    error.wait_for()
    assert "minimum" in error.inner_text() or "less than" in error.inner_text()
    assert page.get_by_label("seconds").input_value() == "-5"  # what was typed stays
    screenshot(page, "submit-errors")


def test_a_running_jobs_log_line_appears_on_its_page_before_it_ends(page, dev_stack: Stack):
    job = dev_stack.submit({"task": "sleep", "parameters": {"seconds": 40}})
    page.goto(f"/jobs/{job['job_id']}")
    _log_line(page, "sleeping").wait_for(timeout=JOB_WAIT_MS)
    status, now = dev_stack.get(f"/jobs/{job['job_id']}")
    assert status == 200 and now["status"] == "RUNNING", now["status"]
    # Pause holds the pane; resuming continues from the cursor, each line once.
    page.get_by_role("button", name="Pause").click()
    assert page.get_by_role("button", name="Resume").get_attribute("aria-pressed") == "true"
    page.get_by_role("button", name="Resume").click()
    dev_stack.wait_for(job["job_id"], {"SUCCEEDED"}, timeout=180)
    _status_is(page, "SUCCEEDED")
    page.locator("#log-state", has_text="all lines shown").wait_for(timeout=JOB_WAIT_MS)
    assert _log_line(page, "sleeping").count() == 1


def test_following_logs_shows_every_line_once_in_order(page, dev_stack: Stack):
    job = dev_stack.submit({"task": "sleep", "parameters": {"seconds": 8}})
    page.goto(f"/jobs/{job['job_id']}")
    page.locator("#log-state", has_text="all lines shown").wait_for(timeout=JOB_WAIT_MS)
    shown = page.locator("#logs li .m").all_inner_texts()
    lines, cursor = [], None
    while True:
        status, got = dev_stack.get(f"/jobs/{job['job_id']}/logs", {"cursor": cursor})
        assert status == 200
        lines += got["lines"]
        cursor = got["next"]
        if not cursor:
            break
    assert len(shown) == len(lines), (shown, [x["message"] for x in lines])
    assert shown[-1].startswith("result ")
    # Only the log lines: the other kinds filtered out.
    for kind in ("submission", "state", "result"):
        page.get_by_label(kind, exact=True).uncheck()
    page.locator("#logs li").first.wait_for()
    time.sleep(2)  # the refetch after the change has landed
    assert set(page.locator("#logs li").evaluate_all("xs => xs.map(x => x.dataset.kind)")) == {
        "log"
    }


def test_an_array_grid_counts_and_rerun_failed(page, dev_stack: Stack):
    failing = {3, 17}
    items = [
        {"exit_code": 2, "message": f"item {i} fails"}
        if i in failing
        else {"succeed_on_attempt": 1}
        for i in range(20)
    ]
    job = dev_stack.submit({"task": "fail", "items": items})
    job_id = job["job_id"]
    dev_stack.wait_for_array(job_id, timeout=300)
    page.goto(f"/jobs/{job_id}")
    grid = page.locator("#array-grid")
    assert grid.locator('.cell[data-status="SUCCEEDED"]').count() == 18
    assert grid.locator('.cell[data-status="FAILED"]').count() == 2
    assert page.locator('#array-counts strong[data-status="FAILED"]').inner_text() == "2"
    colours = {
        status: grid.locator(f'.cell[data-status="{status}"]').first.evaluate(
            "x => getComputedStyle(x).backgroundColor"
        )
        for status in ("SUCCEEDED", "FAILED")
    }
    assert colours["SUCCEEDED"] != colours["FAILED"], colours
    screenshot(page, "array")
    # A child's run, from the grid.
    grid.locator(".cell").nth(3).click()
    page.locator("#child-title", has_text="Item 3").wait_for()
    assert "FAILED" in page.locator("#child").inner_text()
    page.locator("#rerun-failed").click()
    assert page.locator("#rerun-indices").inner_text() == "3, 17"
    page.locator("#confirm").click()
    page.wait_for_url(f"**/jobs/{job_id}")
    deadline = time.monotonic() + 60
    while True:
        status, runs = dev_stack.get(f"/jobs/{job_id}/runs")
        assert status == 200
        if len(runs["runs"]) == 2:
            break
        assert time.monotonic() < deadline, runs
        time.sleep(0.5)
    assert runs["runs"][1]["array"]["indices"] == [3, 17]


def test_cancel_a_sleeper_with_confirmation(page, dev_stack: Stack):
    job = dev_stack.submit({"task": "sleep", "parameters": {"seconds": 600}})
    job_id = job["job_id"]
    dev_stack.wait_for(job_id, {"RUNNING"}, timeout=180)
    page.goto(f"/jobs/{job_id}")
    page.get_by_role("link", name="Cancel…").click()
    page.get_by_label("Reason").fill("not needed after all")
    page.get_by_role("button", name="Yes, cancel the job").click()
    page.wait_for_url(f"**/jobs/{job_id}")
    _status_is(page, "FAILED")
    page.locator(".cancel", has_text="not needed after all").first.wait_for(timeout=TIMEOUT_MS)


def test_a_post_without_the_csrf_token_is_refused(page, dev_stack: Stack):
    job = dev_stack.submit({"task": "sleep", "parameters": {"seconds": 0}})
    answer = page.request.post(
        f"/jobs/{job['job_id']}/cancel", form={"reason": "forged"}, fail_on_status_code=False
    )
    assert answer.status == 403


def test_the_jobs_list_filters_by_status_and_task(page, dev_stack: Stack):
    dev_stack.submit({"task": "echo", "parameters": {"message": "listed"}})
    page.goto("/jobs")
    page.locator("#job-rows tr").first.wait_for()
    screenshot(page, "jobs")
    page.get_by_label("Task").fill("echo")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/jobs?*task=echo*")
    tasks = set(page.locator("#job-rows tr td:nth-child(2)").all_inner_texts())
    assert tasks == {"echo"}, tasks
    page.goto("/jobs?status=FAILED")
    statuses = set(page.locator("#job-rows .status").all_inner_texts())
    assert statuses <= {"FAILED"}, statuses


def test_the_jobs_list_pages_with_the_apis_cursor(page, dev_stack: Stack):
    for n in range(3):
        dev_stack.submit({"task": "echo", "parameters": {"message": f"page {n}"}})
    page.goto("/jobs?limit=2")
    first = page.locator("#job-rows tr td:first-child").all_inner_texts()
    page.get_by_role("link", name="Next page").click()
    page.wait_for_url("**cursor=*")
    second = page.locator("#job-rows tr td:first-child").all_inner_texts()
    assert len(first) == 2 and second and not set(first) & set(second)
    page.get_by_role("link", name="First page").click()
    assert page.locator("#job-rows tr td:first-child").all_inner_texts()[:2] == first


def test_another_host_name_is_refused(console_url):
    """A page of another site resolving its name to 127.0.0.1 (DNS rebinding) gets nothing."""
    request = urllib.request.Request(f"{console_url}/jobs", headers={"Host": "evil.example"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            status = answer.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    assert status == 400
