"""A local AWS Batch: the REST-JSON API, a job state machine, and container executors.

Production is AWS Batch; this exists for ``make dev`` / ``make up`` and tests
(docs/design.md, "The local stack"). Start it in-process with ``LocalBatchServer`` or from the shell
with ``python -m overlord_local.localbatch``.
"""

from overlord_local.localbatch.executors import DockerExecutor, ProcessExecutor
from overlord_local.localbatch.faults import SubmitFaults
from overlord_local.localbatch.scheduler import Timings
from overlord_local.localbatch.server import LocalBatchServer
from overlord_local.localbatch.service import LocalBatch

__all__ = [
    "DockerExecutor",
    "LocalBatch",
    "LocalBatchServer",
    "ProcessExecutor",
    "SubmitFaults",
    "Timings",
]
