"""The worker's environment: what a job's container is given, and how the worker reads it.

The submitter writes it (as SubmitJob container overrides), AWS Batch adds its own
variables, the worker reads it: one module for all three. Each of our variables is
``OVERLORD_`` + the name the value has everywhere else (job_id → OVERLORD_JOB_ID).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

JOB_ID = "OVERLORD_JOB_ID"
TASK = "OVERLORD_TASK"
PARAMETERS = "OVERLORD_PARAMETERS"  # the parameters as JSON, when small enough
PARAMETERS_URI = "OVERLORD_PARAMETERS_URI"  # else an s3:// URI of that JSON
# An array job: the list of every child's parameters (a child picks its own by index).
ITEMS = "OVERLORD_ITEMS"
ITEMS_URI = "OVERLORD_ITEMS_URI"
# With ITEMS_URI (from the submissions that store it): where each item lies in that
# object (overlord.domain.item_offsets), so that a child reads only its own item.
ITEMS_OFFSETS_URI = "OVERLORD_ITEMS_OFFSETS_URI"
# A re-run of some items (overlord.domain.arrays): child i runs items[indices[i]] (a JSON list,
# inline or as a URI); a re-run of one item is a plain job running items[index].
ITEM_INDICES = "OVERLORD_ITEM_INDICES"
ITEM_INDICES_URI = "OVERLORD_ITEM_INDICES_URI"
ITEM_INDEX = "OVERLORD_ITEM_INDEX"
RESULTS_BUCKET = "RESULTS_BUCKET"  # set on the job definition
# Set by AWS Batch (and the local Batch) in every job's container; the array index only
# in an array job's children (`<parent>:<index>` is then their AWS_BATCH_JOB_ID).
BATCH_JOB_ID = "AWS_BATCH_JOB_ID"
BATCH_JOB_ATTEMPT = "AWS_BATCH_JOB_ATTEMPT"
BATCH_JOB_ARRAY_INDEX = "AWS_BATCH_JOB_ARRAY_INDEX"


def job_environment(
    job_id: str,
    task: str,
    *,
    parameters: str | None = None,
    parameters_uri: str | None = None,
    items: str | None = None,
    items_uri: str | None = None,
    items_offsets_uri: str | None = None,
    item_indices: str | None = None,
    item_indices_uri: str | None = None,
    item_index: int | None = None,
) -> dict[str, str]:
    """The variables the submitter sets for one job: exactly one of the four input forms
    (a single job's parameters or an array job's items, inline or as a URI; the items'
    offsets only with their URI)."""
    given = {
        name: value
        for name, value in (
            (PARAMETERS, parameters),
            (PARAMETERS_URI, parameters_uri),
            (ITEMS, items),
            (ITEMS_URI, items_uri),
        )
        if value is not None
    }
    if len(given) != 1:
        raise ValueError("give the parameters or the items, inline or as a URI: exactly one")
    if items_offsets_uri is not None and items_uri is None:
        raise ValueError("the items' offsets go with the items' URI")
    env = {JOB_ID: job_id, TASK: task, **given}
    if items_offsets_uri is not None:
        env[ITEMS_OFFSETS_URI] = items_offsets_uri
    if item_indices is not None:
        env[ITEM_INDICES] = item_indices
    if item_indices_uri is not None:
        env[ITEM_INDICES_URI] = item_indices_uri
    if item_index is not None:
        env[ITEM_INDEX] = str(item_index)
    return env


@dataclass(frozen=True)
class WorkerEnvironment:
    job_id: str
    task: str
    parameters: str | None
    parameters_uri: str | None
    results_bucket: str | None
    batch_job_id: str
    attempt: int
    items: str | None = None
    items_uri: str | None = None
    items_offsets_uri: str | None = None
    # The child's index as Batch set it (None: not an array child); the worker checks it.
    array_index: str | None = None
    item_indices: str | None = None
    item_indices_uri: str | None = None
    item_index: str | None = None

    @property
    def is_array(self) -> bool:
        return self.items is not None or self.items_uri is not None

    @property
    def index(self) -> int | None:
        """The array index as a number; None when unset or not one."""
        text = self.array_index
        return int(text) if text is not None and text.isascii() and text.isdigit() else None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WorkerEnvironment:
        attempt = env.get(BATCH_JOB_ATTEMPT, "1")
        batch_job_id = env.get(BATCH_JOB_ID, "local")
        index = env.get(BATCH_JOB_ARRAY_INDEX)
        if index is not None and not batch_job_id.endswith(f":{index}"):
            # A child's job ID is `<parent>:<index>` (and so its result key); should a
            # Batch give children the parent's ID, they would overwrite one result.
            batch_job_id = f"{batch_job_id}:{index}"
        return cls(
            job_id=env.get(JOB_ID, ""),
            task=env.get(TASK, ""),
            parameters=env.get(PARAMETERS),
            parameters_uri=env.get(PARAMETERS_URI) or None,
            results_bucket=env.get(RESULTS_BUCKET) or None,
            batch_job_id=batch_job_id,
            attempt=int(attempt) if attempt.isdigit() else 1,
            items=env.get(ITEMS),
            items_uri=env.get(ITEMS_URI) or None,
            items_offsets_uri=env.get(ITEMS_OFFSETS_URI) or None,
            array_index=env.get(BATCH_JOB_ARRAY_INDEX),
            item_indices=env.get(ITEM_INDICES),
            item_indices_uri=env.get(ITEM_INDICES_URI) or None,
            item_index=env.get(ITEM_INDEX),
        )
