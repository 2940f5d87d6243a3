"""Children that die with their parent: ``PR_SET_PDEATHSIG`` (Linux), a no-op elsewhere.

A SIGKILLed ``overlord dev`` or local Batch cannot run its cleanup, so the processes
it started (FerretDB, the Lambda emulators, job processes) would live on, holding
ports and data directories. Started with ``preexec_fn=die_with_parent()``, each child
asks the kernel for SIGKILL when its parent goes away.

* The signal is sent when the *thread* that started the child ends, not only the
  process. The local stack starts its children from threads that outlive them (the
  main thread, or the job's scheduler thread, which waits for its process).
* Only the direct child is covered; a job that starts its own children should let them
  die with it (a process group killed on the normal path, ``killpg``, covers them).
* If the parent died between ``fork`` and ``prctl``, the child notices (its parent
  PID changed) and kills itself.
* ``preexec_fn`` runs between fork and exec in a threaded program, so it does the least
  possible: one call of a ``prctl`` resolved beforehand, ``getppid``, maybe ``kill``.
* ``exec_prefix`` is the same request without a ``preexec_fn``: util-linux's ``setpriv
  --pdeathsig`` sets it and execs the command. A ``preexec_fn`` makes ``subprocess``
  ``fork()`` the whole (large, threaded) parent instead of ``vfork()``: measured in the
  local Batch, about 2 ms of the parent's CPU and 7 ms of wall time more per process,
  which is most of what starting an array child costs. Its only gap: a parent killed in
  the microseconds between ``vfork`` and ``setpriv``'s ``prctl`` leaves the child.
"""

from __future__ import annotations

import ctypes
import functools
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    prctl.restype = ctypes.c_int
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return prctl


_PRCTL = _load_prctl()
SUPPORTED = _PRCTL is not None


def die_with_parent(signum: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A ``preexec_fn`` for ``subprocess.Popen``; None where it is not supported."""
    prctl = _PRCTL
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)
        if os.getppid() != parent:  # the parent is already gone
            os.kill(os.getpid(), signum)

    return preexec


@functools.cache
def exec_prefix(signum: int = signal.SIGKILL) -> tuple[str, ...] | None:
    """``setpriv --pdeathsig SIG --`` to put before a command; None where ``setpriv`` is
    missing or too old (util-linux < 2.33) or the platform has no parent-death signal."""
    setpriv = shutil.which("setpriv") if SUPPORTED else None
    if setpriv is None:
        return None
    prefix = (setpriv, "--pdeathsig", signal.Signals(signum).name.removeprefix("SIG"), "--")
    try:
        works = subprocess.run([*prefix, "true"], capture_output=True, timeout=10).returncode
    except (OSError, subprocess.SubprocessError):
        return None
    return prefix if works == 0 else None
