"""The console in a real browser: `overlord dev`, `overlord ui` against it, and Debian's
chromium driven by Playwright (its own browser download cannot work here).

Without chromium the tests are skipped with the reason, except in CI (CI=true), where
.ci/system-packages.sh installs it and its absence is a failure. Set
CONSOLE_SCREENSHOTS=<dir> to save the main pages as PNGs (docs/console/ holds them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overlord_local.devstack.processes import free_port
from overlord_local.devstack.running import start_dev
from tests.e2e.conftest import Stack, cli_env
from tests.support.waiting import wait_for

CHROMIUM = os.environ.get("CHROMIUM_BIN") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The machine is shared and slow: pages and jobs get minutes, not seconds.
TIMEOUT_MS = 120_000


def _need_chromium() -> None:
    if Path(CHROMIUM).is_file():
        return
    reason = f"no chromium at {CHROMIUM} (apt-get install chromium; .ci/system-packages.sh)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        found = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield found
        found.close()


@pytest.fixture(scope="session")
def dev_stack(tmp_path_factory, mongodb_uri, mongo_client) -> Iterator[Stack]:
    _need_chromium()
    tmp = tmp_path_factory.mktemp("console-dev")
    db_name = f"console_{uuid.uuid4().hex[:8]}"
    dev = start_dev(
        tmp,
        "--max-vcpus",
        "2",
        "--reconcile-every",
        "0",
        env={"MONGODB_URI": mongodb_uri, "DB_NAME": db_name},
    )
    try:
        yield Stack(
            dev.url,
            mongo_client[db_name],
            "in-process",
            dev.proc,
            tmp,
            dev.output,
            credentials=dev.credentials,
            env=dev.env,
        )
    finally:
        dev.stop()


@pytest.fixture(scope="session")
def console_url(dev_stack: Stack, tmp_path_factory) -> Iterator[str]:
    """`overlord ui --api <the stack> --no-browser`, signing with the credentials it finds
    in its environment (botocore's chain), as a user's shell would give them."""
    port = free_port()
    log = tmp_path_factory.mktemp("console-ui") / "ui.out"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "overlord_local.cli",
                "ui",
                "--api",
                dev_stack.url,
                "--port",
                str(port),
                "--no-browser",
            ],
            env=cli_env(dev_stack),
            stdout=out,
            stderr=out,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        import urllib.request

        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"overlord ui exited: {log.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/static/console.css", timeout=5):
                    return True
            except OSError:
                return False

        wait_for(up, timeout=120, what="overlord ui answering", interval=0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def page(browser, console_url) -> Iterator[Any]:
    context = browser.new_context(base_url=console_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    found = context.new_page()
    yield found
    context.close()


def screenshot(page: Any, name: str) -> None:
    """Saved only when CONSOLE_SCREENSHOTS names a folder (docs/console/)."""
    folder = os.environ.get("CONSOLE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)
