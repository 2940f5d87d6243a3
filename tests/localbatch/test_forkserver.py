"""Python jobs forked from a warm interpreter (overlord_local.forkserver) behave as
the fresh `python -m` process they replace: environment, working directory,
arguments, exit code, merged output, own process group, killed by killpg."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from overlord_local.forkserver import ForkedProcess, ForkServer
from overlord_local.localbatch.executors.base import ContainerSpec
from overlord_local.localbatch.executors.process import ProcessExecutor

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork, Linux")

JOB = """
import os, sys, time
print("cwd", os.getcwd())
print("env", os.environ.get("JOB_VALUE"), os.environ.get("ONLY_SERVER"))
print("args", sys.argv[1:])
print("to stderr", file=sys.stderr)
print("pgid", os.getpgid(0) == os.getpid())
sys.stdout.flush()
if sys.argv[1:] == ["sleep"]:
    time.sleep(60)
sys.exit(int(os.environ.get("EXIT", "0")))
"""


@pytest.fixture
def job_module(tmp_path: Path) -> tuple[str, Path]:
    (tmp_path / "forked_job.py").write_text(textwrap.dedent(JOB))
    return "forked_job", tmp_path


@pytest.fixture
def server():
    server = ForkServer(["json"])
    yield server
    server.stop()


def _output(proc) -> str:
    with os.fdopen(proc.output, "rb") as out:
        return out.read().decode()


def test_a_forked_job_gets_its_environment_arguments_and_exit_code(
    server, job_module, tmp_path, monkeypatch
):
    monkeypatch.setenv("ONLY_SERVER", "the server's")
    module, path = job_module
    env = {"PYTHONPATH": str(path), "JOB_VALUE": "v1", "EXIT": "3"}
    proc = server.spawn(module, ["a", "b"], env, str(tmp_path))
    assert proc.wait(30) == 3
    out = _output(proc)
    assert f"cwd {tmp_path}" in out
    assert "env v1 None" in out  # only the job's environment, nothing of the server's
    assert "args ['a', 'b']" in out
    assert "to stderr" in out
    assert "pgid True" in out  # its own process group, as start_new_session


def test_killpg_stops_a_forked_job_as_a_signal_exit(server, job_module, tmp_path):
    module, path = job_module
    proc = server.spawn(module, ["sleep"], {"PYTHONPATH": str(path)}, str(tmp_path))
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            break
        except ProcessLookupError:  # not in its own group yet
            time.sleep(0.05)
    assert proc.wait(30) == -signal.SIGTERM


def test_the_executor_forks_python_module_commands(job_module, tmp_path, logs_client):
    module, path = job_module
    executor = ProcessExecutor(logs_client, preload=["json"], cwd=str(tmp_path))
    logs_client.create_log_group(logGroupName="/forked")
    logs_client.create_log_stream(logGroupName="/forked", logStreamName="s")
    spec = ContainerSpec(
        batch_job_id="j",
        attempt=1,
        image="x",
        command=["python", "-m", module, "x"],
        environment={"PYTHONPATH": str(path), "EXIT": "0", "JOB_VALUE": "v2"},
        log_group="/forked",
        log_stream="s",
    )
    try:
        container = executor.start(spec)
        assert isinstance(container._proc, ForkedProcess)
        outcome = container.wait(30)
        assert outcome is not None and outcome.exit_code == 0
        events = logs_client.get_log_events(logGroupName="/forked", logStreamName="s")["events"]
        assert "env v2 None" in [e["message"] for e in events]
    finally:
        executor.shutdown()


LINGERING = """
import atexit, threading, time
atexit.register(lambda: print("atexit ran", flush=True))
def late():
    time.sleep(0.3)
    print("thread done", flush=True)
threading.Thread(target=late).start()
"""


def test_a_module_in_the_working_directory_is_found_as_python_m_finds_it(
    server, job_module, tmp_path
):
    module, _ = job_module
    proc = server.spawn(module, [], {"EXIT": "0"}, str(tmp_path))  # no PYTHONPATH
    assert proc.wait(30) == 0, _output(proc)


def test_a_forked_job_ends_as_an_interpreter_does_threads_joined_atexit_run(server, tmp_path):
    (tmp_path / "lingering.py").write_text(textwrap.dedent(LINGERING))
    proc = server.spawn("lingering", [], {}, str(tmp_path))
    assert proc.wait(30) == 0
    out = _output(proc)
    assert "thread done" in out
    assert "atexit ran" in out


def test_the_process_group_exists_as_soon_as_spawn_returns(server, job_module, tmp_path):
    module, path = job_module
    for _ in range(5):
        proc = server.spawn(module, ["sleep"], {"PYTHONPATH": str(path)}, str(tmp_path))
        os.killpg(proc.pid, signal.SIGKILL)  # no ProcessLookupError: the group is there
        assert proc.wait(30) == -signal.SIGKILL


def test_poll_answers_while_another_thread_waits(server, job_module, tmp_path):
    module, path = job_module
    proc = server.spawn(module, ["sleep"], {"PYTHONPATH": str(path)}, str(tmp_path))
    waiter = threading.Thread(target=proc.wait, daemon=True)
    waiter.start()
    time.sleep(0.2)  # the waiter is in its blocking wait
    polled: list[int | None] = []
    poller = threading.Thread(target=lambda: polled.append(proc.poll()), daemon=True)
    poller.start()
    poller.join(10)
    os.killpg(proc.pid, signal.SIGKILL)
    waiter.join(30)
    assert polled == [None]
    assert proc.wait(0) == -signal.SIGKILL


def test_shutdown_stops_a_forked_job_another_thread_waits_for(job_module, tmp_path, logs_client):
    module, path = job_module
    executor = ProcessExecutor(logs_client, preload=["json"], cwd=str(tmp_path), kill_grace=1)
    logs_client.create_log_group(logGroupName="/forked-kill")
    logs_client.create_log_stream(logGroupName="/forked-kill", logStreamName="s")
    spec = ContainerSpec(
        batch_job_id="j",
        attempt=1,
        image="x",
        command=["python", "-m", module, "sleep"],
        environment={"PYTHONPATH": str(path)},
        log_group="/forked-kill",
        log_stream="s",
    )
    container = executor.start(spec)
    outcomes: list[object] = []
    waiter = threading.Thread(target=lambda: outcomes.append(container.wait()), daemon=True)
    waiter.start()
    time.sleep(0.2)
    stopper = threading.Thread(target=executor.shutdown, daemon=True)
    stopper.start()
    stopper.join(20)
    waiter.join(20)
    assert not stopper.is_alive(), "shutdown hung on a job another thread waits for"
    assert len(outcomes) == 1 and outcomes[0].exit_code == 128 + signal.SIGTERM


def test_a_missing_working_directory_fails_the_start_not_the_job(server, job_module, tmp_path):
    module, path = job_module
    with pytest.raises(OSError, match="No such file"):
        server.spawn(module, [], {"PYTHONPATH": str(path)}, str(tmp_path / "gone"))


def test_the_server_outlives_the_thread_that_started_it(server, job_module, tmp_path):
    """The local Batch starts each job from the job's own thread; the server dies with
    its parent (PR_SET_PDEATHSIG: the parent *thread*) and must not die with that one."""
    module, path = job_module
    env = {"PYTHONPATH": str(path)}
    first: list[ForkedProcess] = []
    starter = threading.Thread(
        target=lambda: first.append(server.spawn(module, ["sleep"], env, str(tmp_path)))
    )
    starter.start()
    starter.join(60)
    second = server.spawn(module, ["sleep"], env, str(tmp_path))
    time.sleep(0.5)  # a parent-death signal would have come by now
    assert first[0].poll() is None and second.poll() is None
    for proc in (first[0], second):
        os.killpg(proc.pid, signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL


CLIENT_JOB = """
import boto3
s3 = boto3.client("s3")
print("client", s3.meta.region_name, s3.meta.endpoint_url, flush=True)
"""


def test_a_warm_botocore_loader_keeps_each_jobs_region_and_endpoint(tmp_path):
    """The shared data loader (overlord_local.botocore_warm) carries no environment: each
    forked job's client has its own job's region and endpoint."""
    (tmp_path / "client_job.py").write_text(textwrap.dedent(CLIENT_JOB))
    server = ForkServer(["overlord_local.botocore_warm"])
    try:
        for region, port in (("eu-west-1", 4000), ("ap-south-1", 4001)):
            env = {
                "AWS_DEFAULT_REGION": region,
                "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}",
                "AWS_ACCESS_KEY_ID": "a",
                "AWS_SECRET_ACCESS_KEY": "b",
            }
            proc = server.spawn("client_job", [], env, str(tmp_path))
            assert proc.wait(60) == 0
            assert f"client {region} http://127.0.0.1:{port}" in _output(proc)
    finally:
        server.stop()


def _run_job(tmp_path: Path, preload: str, source: str) -> tuple[int, str]:
    """Run `source` as a job forked by a fork server that preloaded `preload`: its exit
    code and output."""
    (tmp_path / "preloaded_job.py").write_text(source)
    server = ForkServer([preload])
    try:
        proc = server.spawn("preloaded_job", [], {}, str(tmp_path))
        return proc.wait(60), _output(proc)
    finally:
        server.stop()


SAME_HANDLERS_JOB = """
import botocore.session
from overlord_local import botocore_warm

events = [
    "creating-client-class.s3",
    "before-parameter-build.s3.PutObject",
    "choose-signer.s3.PutObject",
    "before-call.s3.GetObject",
    "needs-retry.s3.GetObject",
    "after-call.s3.ListObjects",
    "before-parameter-build.logs.PutLogEvents",
]
reference = botocore.session.Session(include_builtin_handlers=False)
botocore_warm._register_builtin_handlers(reference, reference._events)
copied = botocore.session.Session()
assert copied._original_handler is not botocore_warm._builtin_emitter
for event in events:
    want = list(reference._original_handler._handlers.prefix_search(event))
    got = list(copied._original_handler._handlers.prefix_search(event))
    assert want and got == want, (event, want, got)
def own(**kwargs):
    pass
copied.register("before-call.s3.GetObject", own)
again = botocore.session.Session()
theirs = list(again._original_handler._handlers.prefix_search("before-call.s3.GetObject"))
assert own not in theirs, "a session's own handler reached another session"
print("same handlers", flush=True)
"""


def test_a_forked_jobs_botocore_session_has_the_builtin_handlers_of_its_own(tmp_path):
    """A session made from the copied emitter (overlord_local.botocore_warm) has exactly
    the handlers botocore registers one by one, and what it adds stays its own."""
    code, output = _run_job(tmp_path, "overlord_local.botocore_warm", SAME_HANDLERS_JOB)
    assert code == 0 and "same handlers" in output, output


COMPILED_JOB = """
import importlib, pathlib, sys
from overlord_local import code_cache

compiled = []
original = code_cache._original
code_cache._original = lambda *a, **k: compiled.append(str(a[2])) or original(*a, **k)
import overlord.domain.status  # warmed by the fork server: not compiled again
assert not [p for p in compiled if "overlord" in p], compiled
edited = pathlib.Path("edited.py")
values = []
for value in ("1", "2"):
    edited.write_text(f"VALUE = {value}\\n")  # same size: only the bytes differ
    sys.modules.pop("edited", None)
    importlib.invalidate_caches()
    values.append(importlib.import_module("edited").VALUE)
assert values == [1, 2], values
assert len([p for p in compiled if p.endswith("edited.py")]) == 2, compiled
print("compiled once, edited anew", flush=True)
"""


def test_a_forked_job_reuses_warmed_code_but_compiles_an_edited_file(tmp_path):
    """overlord_local.code_cache: the product's modules compiled in the fork server serve
    every job; a file whose bytes changed is compiled anew, never served stale."""
    code, output = _run_job(tmp_path, "overlord_local.code_cache", COMPILED_JOB)
    assert code == 0 and "compiled once, edited anew" in output, output


def _children_of(pid: int) -> list[int]:
    """PIDs whose parent is ``pid``, running or zombie (/proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:
            continue
        if int(raw[raw.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_a_job_that_could_not_start_is_reaped(server, job_module, tmp_path):
    module, path = job_module
    with pytest.raises(OSError, match="No such file"):
        server.spawn(module, [], {"PYTHONPATH": str(path)}, str(tmp_path / "gone"))
    server_pid = server._proc.pid
    deadline = time.monotonic() + 10
    while _children_of(server_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _children_of(server_pid) == []  # exited and reaped: no zombie left
