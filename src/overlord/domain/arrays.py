"""Which items an array job's run runs, and how its Batch children map back to them.

A run of an array job runs every item (child i runs item i), or — a re-run of the failed
ones — a selection of them, in ascending item order: child i runs item `indices[i]`.
Batch's arrays have 2 to 10,000 children, so a selection of one item is a plain Batch
job running that item (`item` on its run). The job's own view of its items is the
latest outcome of each: every run, in run order, overwrites the items it ran.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from overlord.domain.schema import RunDocument


@dataclass(frozen=True)
class RunShape:
    """What a run submits to Batch for an array job of `items_count` items."""

    items_count: int
    selection: tuple[int, ...] | None = None  # None: every item

    @property
    def array_size(self) -> int | None:
        """Batch's arrayProperties.size; None: a plain Batch job (one selected item)."""
        if self.selection is None:
            return self.items_count
        return len(self.selection) if len(self.selection) > 1 else None

    @property
    def indices(self) -> list[int] | None:
        """The items child i runs (None: item i)."""
        return list(self.selection) if self.selection and len(self.selection) > 1 else None

    @property
    def item(self) -> int | None:
        """The one item a plain Batch job runs."""
        return self.selection[0] if self.selection and len(self.selection) == 1 else None


def items_of(run: RunDocument) -> list[int] | None:
    """The items a run of an array job ran, in child order; None: not such a run."""
    if "item" in run:
        return [run["item"]]
    array = run.get("array")
    if array is None:
        return None
    indices = array.get("indices")
    return list(indices) if indices is not None else list(range(array["size"]))


def source_of(run: RunDocument, item: int) -> str | None:
    """The batch_job_id whose lines and result are this item's in this run, if it ran it."""
    if "item" in run:
        return run["_id"] if run["item"] == item else None
    ran = items_of(run)
    if ran is None or item not in ran:
        return None
    position = item if "indices" not in run.get("array", {}) else ran.index(item)
    return f"{run['_id']}:{position}"


def latest_outcomes(
    runs: Sequence[tuple[RunDocument, dict[int, str | None]]],
) -> dict[int, str | None]:
    """Each item's status in the latest run that ran it. `runs` in run order, each with
    its children's statuses by child index (a plain-job run: {0: its own status})."""
    outcome: dict[int, str | None] = {}
    for run, children in runs:
        ran = items_of(run)
        if ran is None:
            continue
        for position, item in enumerate(ran):
            outcome[item] = children.get(position)
    return outcome
