"""`python -m overlord_worker`: the command AWS Batch runs (exit codes: `service`)."""

from __future__ import annotations

import gc
import os
import sys

from overlord.adapters.s3 import ObjectStore
from overlord_contracts.worker_env import WorkerEnvironment
from overlord_worker.service import run_task


def main() -> int:
    env = WorkerEnvironment.from_env(os.environ)
    # Bound to the results bucket; the service writes nothing when that is unset.
    return run_task(env, ObjectStore(env.results_bucket or ""))


if __name__ == "__main__":
    code = main()
    # The process ends: spare the interpreter's final garbage collections over every
    # object the imports made (botocore's models, …), a fifth of a short task's CPU
    # (bench/worker_start.py). Exit handlers (logging's flush) still run.
    gc.freeze()
    sys.exit(code)
