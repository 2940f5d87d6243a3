"""Start Python job processes by forking a warm interpreter instead of a fresh one.

An array child on ``make dev`` is ``python -m overlord_worker``: a fresh interpreter
that spends most of its CPU importing boto3 and Powertools before a millisecond of
work (docs/performance.md, "Arrays on make dev"). The fork server is one interpreter
that has imported those libraries once (``preload``: third-party modules only, which
read nothing of the job's environment at import) and forks a child per job; the child
gets the job's environment, working directory and stdout, and runs the module as
``python -m`` would. What stays the same as a fresh process: its own PID, session and
process group, made before its PID is handed out (``killpg`` stops it at once); its
exit code (a signal as ``-N``); stdout and stderr merged into one pipe, stdin
/dev/null; ``sys.path`` (its working directory, then PYTHONPATH); the end of an
interpreter (non-daemon threads joined, atexit functions run); no descriptor of the
server's; death with its parent (the fork server, itself a child of the local Batch
that dies with the thread that keeps it). What differs: interpreter settings read at
start-up (``PYTHONUNBUFFERED``, ``PYTHONHASHSEED``, ``-X`` options) are the server's,
and the preloaded modules are already imported; neither matters to the worker.

Protocol: one ``SOCK_SEQPACKET`` connection per job to the server's Unix socket. The
client sends ``{"module", "args", "env", "cwd"}`` with the write end of its output pipe
(SCM_RIGHTS); the server answers ``{"pid"}`` (or ``{"error"}``: it could not start,
e.g. no such working directory), later ``{"exit"}``.

    python -m overlord_local.forkserver SOCKET MODULE [MODULE …]

(A module of its own, outside ``localbatch``: the server imports nothing of the local
Batch, whose threads it must not fork.)
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from overlord_local.pdeathsig import die_with_parent

MAX_MESSAGE = 1 << 20
START_SECONDS = 60.0


# ------------------------------------------------------------------------ the server
def _become_job(request: dict[str, Any], out_fd: int, preexec: Any) -> None:
    """In the forked child, before the server answers: what ``Popen(start_new_session=True,
    cwd=…)`` does before its ``exec``. ``preexec``: die_with_parent() made in the server
    (it compares with the server's PID)."""
    os.setsid()  # before the PID is handed out, so that killpg(pid) finds the group
    if preexec is not None:
        preexec()
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    os.close(null)
    os.close(out_fd)
    cwd = request.get("cwd")
    if cwd:
        os.chdir(cwd)


def _run_job(request: dict[str, Any]) -> int:
    """In the forked child: run the job's module as ``python -m`` would, return its code."""
    inherited_path = os.environ.get("PYTHONPATH", "")
    os.environ.clear()
    os.environ.update(request["env"])
    # A fresh `python -m` puts its working directory first, then PYTHONPATH's entries.
    sys.path[0] = os.getcwd()
    job_path = request["env"].get("PYTHONPATH", "")
    if job_path and job_path != inherited_path:
        sys.path[1:1] = [p for p in job_path.split(os.pathsep) if p]
    import runpy

    sys.argv = [request["module"], *request["args"]]
    try:
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    # What an interpreter does on its way out, which os._exit would skip: wait for the
    # job's non-daemon threads, run its atexit functions.
    try:
        threading._shutdown()  # type: ignore[attr-defined]
        import atexit

        atexit._run_exitfuncs()
    except BaseException:
        import traceback

        traceback.print_exc()
    return code


def _child(request: dict[str, Any], out_fd: int, preexec: Any, started: int) -> None:
    """The forked child, from fork to exit; ``started``: where it tells the server it is
    the job's process (an empty message) or why it cannot be (an error)."""
    code = 1
    try:
        try:
            _become_job(request, out_fd, preexec)
        except OSError as exc:
            os.write(started, str(exc).encode()[:4000] or b"cannot start")
            return
        os.write(started, b"\0")
        os.close(started)
        code = _run_job(request)
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code & 0xFF)


def serve(path: str, preload: Sequence[str]) -> None:
    for module in preload:
        __import__(module)
    import gc

    gc.collect()
    gc.freeze()  # the preloaded objects stay shared with every child (copy-on-write)

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(256)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    children: dict[int, socket.socket] = {}
    preexec = die_with_parent()
    print("ready", flush=True)

    def reap() -> None:
        # Every child, not only those with a client: one that could not start too.
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = children.pop(pid, None)
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.send(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode())
                conn.close()

    while True:
        ready, _, _ = select.select([listener.fileno(), wake_r], [], [], 1.0)
        if wake_r in ready:
            with contextlib.suppress(BlockingIOError):
                while os.read(wake_r, 4096):
                    pass
        if listener.fileno() in ready:
            conn, _ = listener.accept()
            try:
                data, fds, _, _ = socket.recv_fds(conn, MAX_MESSAGE, 1)
                request = json.loads(data)
                (out_fd,) = fds
            except (OSError, ValueError):
                conn.close()
                continue
            started_r, started_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                # Nothing of the server's stays open in the job (Popen: close_fds).
                for fd in (listener, conn, *children.values()):
                    fd.close()
                for raw in (wake_r, wake_w, started_r):
                    os.close(raw)
                _child(request, out_fd, preexec, started_w)
            os.close(started_w)
            os.close(out_fd)
            # Answer only once the child is in its own session (or could not start).
            status = os.read(started_r, 4096)
            os.close(started_r)
            answer: dict[str, Any] = {"pid": pid}
            if status != b"\0":
                answer = {"error": status.decode(errors="replace") or "the job died starting"}
            else:
                children[pid] = conn
            with contextlib.suppress(OSError):  # the client may be gone: its job ends alone
                conn.send(json.dumps(answer).encode())
            if "error" in answer:
                conn.close()
        reap()


# ------------------------------------------------------------------------ the client
class ForkedProcess:
    """A job process the fork server started: its PID, its output, its exit code."""

    def __init__(self, conn: socket.socket, pid: int, output: int) -> None:
        self._conn = conn
        self.pid = pid
        self.output = output  # the read end of its stdout + stderr
        self._code: int | None = None
        self._lock = threading.Lock()

    def poll(self) -> int | None:
        return self.wait(0)

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code (``-N`` for signal N, as ``Popen``), None if still running.
        As ``Popen``: while one thread waits, another's wait gets the lock only once the
        first is done (or its own timeout passes: None), so ``poll`` never blocks."""
        if self._code is not None:
            return self._code
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        if timeout is None:
            acquired = self._lock.acquire()
        elif timeout <= 0:
            acquired = self._lock.acquire(blocking=False)
        else:
            acquired = self._lock.acquire(timeout=timeout)
        if not acquired:
            return self._code
        try:
            if self._code is not None:
                return self._code
            # None: block; 0.0: do not block at all (BlockingIOError).
            self._conn.settimeout(
                None if deadline is None else max(0.0, deadline - time.monotonic())
            )
            try:
                data = self._conn.recv(4096)
            except (TimeoutError, BlockingIOError):
                return None
            # A server gone without a word: the kernel killed the child with it.
            self._code = int(json.loads(data)["exit"]) if data else -signal.SIGKILL
            self._conn.close()
            return self._code
        finally:
            self._lock.release()


class ForkServer:
    """Starts the server process on first use; ``spawn`` forks a job from it."""

    def __init__(self, preload: Sequence[str]) -> None:
        self.preload = tuple(preload)
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._lock = threading.Lock()

    @property
    def path(self) -> str:
        assert self._dir is not None
        return str(Path(self._dir.name) / "forkserver.sock")

    def _ensure(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return
            if self._dir is not None:
                self._dir.cleanup()
            self._dir = tempfile.TemporaryDirectory(prefix="overlord-forkserver-")
            started: queue.Queue[subprocess.Popen[bytes] | OSError] = queue.Queue()
            threading.Thread(
                target=self._parent, args=(started,), name="forkserver", daemon=True
            ).start()
            proc = started.get()
            if isinstance(proc, OSError):
                raise proc
            self._proc = proc
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], START_SECONDS)
            line = proc.stdout.readline() if ready else b""
            if line.strip() != b"ready":
                proc.kill()
                raise OSError(f"the fork server did not start ({line!r})")

    def _parent(self, started: queue.Queue[subprocess.Popen[bytes] | OSError]) -> None:
        """The thread the server dies with: the parent-death signal follows the *thread*
        that started a process, and the local Batch starts jobs from short-lived ones."""
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", __name__, self.path, *self.preload],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                start_new_session=True,
                preexec_fn=die_with_parent(),  # a SIGKILLed local Batch takes it along
            )
        except OSError as exc:
            started.put(exc)
            return
        started.put(proc)
        proc.wait()

    def spawn(
        self, module: str, args: list[str], env: dict[str, str], cwd: str | None
    ) -> ForkedProcess:
        self._ensure()
        read_end, write_end = os.pipe()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            conn.connect(self.path)
            request = {"module": module, "args": args, "env": env, "cwd": cwd}
            socket.send_fds(conn, [json.dumps(request).encode()], [write_end])
            os.close(write_end)
            write_end = -1
            answer = conn.recv(4096)
            if not answer:
                raise OSError("the fork server closed the connection")
            started = json.loads(answer)
            if "error" in started:
                raise OSError(started["error"])
            pid = int(started["pid"])
        except BaseException:
            conn.close()
            os.close(read_end)
            if write_end >= 0:
                os.close(write_end)
            raise
        return ForkedProcess(conn, pid, read_end)

    def stop(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc is not None and proc.stdout is not None:
                proc.stdout.close()
            if self._dir is not None:
                self._dir.cleanup()
                self._dir = None


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2:])
