"""FerretDB (SQLite backend) as a local MongoDB when no MONGODB_URI is given.

The binary is built from `local/ferretdb` (FerretDB v1.24.2 embedded, see its main.go
for why not `go install …/cmd/ferretdb`; with its patches/, which answer `_id`-keyed
filters from the `_id` index) into `.tools/bin`, again whenever those sources change
(`gotools`).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from pymongo import MongoClient

from overlord_local.devstack.gotools import FERRETDB, ToolMissing, ensure
from overlord_local.devstack.processes import free_port, stop_process, wait_until
from overlord_local.pdeathsig import die_with_parent


class MongoUnavailable(RuntimeError):
    pass


HOW_TO_FIX = (
    "no MongoDB available. Any one of these fixes it:\n"
    "  1. set MONGODB_URI to a MongoDB you can reach (e.g. mongodb://127.0.0.1:27017), or\n"
    "  2. install Go (https://go.dev/dl/) so that FerretDB can be built into .tools/bin, or\n"
    "  3. put a ferretdb binary on PATH (or set FERRETDB_BIN to it)."
)


def ferretdb_binary() -> Path:
    try:
        return ensure(FERRETDB)
    except ToolMissing:
        raise MongoUnavailable(HOW_TO_FIX) from None


# SQLite's default in WAL mode, synchronous=FULL, fsyncs the log at every commit, and
# FerretDB commits every statement of a command on its own: ~0.65 ms of each write on
# this machine's disk, against ~0.02 ms without. NORMAL keeps every committed write
# through a crash of FerretDB or of anything else (the log is in the OS's cache); only
# a crash of the OS or the power may lose the last commits. For a local database of
# runs that Batch and reconcile can rebuild, speed wins (docs/design.md, "FerretDB").
SQLITE_PRAGMAS = "_pragma=synchronous(normal)"


class FerretDB:
    """A FerretDB process on a free loopback port, its data in `data_dir`."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 30.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "ferretdb.log", "ab")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(
            [
                str(ferretdb_binary()),
                f"-listen-addr=127.0.0.1:{self.port}",
                f"-sqlite-url=file:{self.data_dir}/?{SQLITE_PRAGMAS}",
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
            preexec_fn=die_with_parent(),  # a SIGKILLed dev takes it along
        )
        client: MongoClient = MongoClient(self.uri, serverSelectionTimeoutMS=500)

        def answers() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise MongoUnavailable(f"ferretdb exited; see {self.data_dir / 'ferretdb.log'}")
            try:
                client.admin.command("ping")
                return True
            except Exception:
                return False

        try:
            wait_until(answers, timeout, "FerretDB to answer")
        finally:
            client.close()
        return self.uri

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None
