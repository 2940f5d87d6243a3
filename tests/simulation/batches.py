"""Delivery in SQS batches (issue 19): the recorder's batch path in the histories.

The event source mapping hands the recorder up to ten messages at once: several events
of one run, in any order, the same event twice (SQS is at least once, and EventBridge
may have sent it twice). The recorder orders them (`in_recording_order`, as the
handler does) and records them together (`record.record_batch`: one write per
collection). A batch may stop at any of its writes (the scheduler's crash points: the
bulk writes are writes), and then every message of it is delivered again; or the store
may refuse the writes of one run (`refuse`), and then only that run's messages fail and
are delivered again (the handler's `batchItemFailures`), before or after the write took
effect (`refused_after`: the answer lost). One or two batches run at once, optionally
beside a reconcile pass, interleaved by the scheduler as every other operation.

`BatchDelivery` is a mixin for `machine.History` (soak.machine puts it in).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from overlord.domain.event_batches import in_recording_order
from overlord.domain.observation import RunObservation
from overlord.domain.status import rank
from overlord.ports.batch_events import BatchJobDetail, observe
from overlord.services import record

if TYPE_CHECKING:
    from tests.simulation.machine import Delivery, History

    _Base = History
else:
    _Base = object

# A batch's writes (copies, runs, jobs, recounts, state lines, and each event's own
# when it falls back to the late path) are more than one event's.
batch_crash_points = st.one_of(st.none(), st.integers(1, 8))
batch_picks = st.lists(st.integers(0, 50), min_size=1, max_size=10)


class WriteRefused(Exception):
    """The store refused a write (a write error, or its answer lost): the messages it
    carried fail and are delivered again."""


@dataclass
class RefusingStore:
    """The store as one batch's recorder sees it: the writes that touch run `refused`
    raise WriteRefused, before the write or (`after`) once it took effect."""

    store: Any
    refused: str | None
    after: bool
    refusals: list[str] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.store, name)
        if name not in {"apply_observation", "apply_observations", "append_logs"}:
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            touched = self._runs(name, args[0])
            if self.refused is None or self.refused not in touched:
                return method(*args, **kwargs)
            answer = method(*args, **kwargs) if self.after else None
            self.refusals.append(name)
            raise WriteRefused(f"{name} of {self.refused} refused (after={self.after})")
            return answer  # pragma: no cover

        return call

    @staticmethod
    def _runs(name: str, first: Any) -> set[str]:
        if name == "apply_observation":
            return {first.batch_job_id}
        if name == "apply_observations":
            return {obs.batch_job_id for obs, _ in first}
        return {line["batch_job_id"] for line in first}


def sqs_records(deliveries: Sequence[Delivery]) -> list[dict[str, Any]]:
    """The messages of one batch, as the event source mapping passes them."""
    return [
        {
            "messageId": f"m-{i}",
            "body": json.dumps(
                {"time": d.at.isoformat(), "detail": d.detail}, default=str, sort_keys=True
            ),
        }
        for i, d in enumerate(deliveries)
    ]


def _same_run_after(delivery: Delivery, chosen: list[Delivery]) -> bool:
    """Another event of this run with this status or a later one is chosen already."""
    return any(
        c.detail["jobId"] == delivery.detail["jobId"]
        and rank(c.detail["status"]) >= rank(delivery.detail["status"])
        for c in chosen
    )


def _named(delivery: Delivery) -> str:
    return f"{delivery.detail['jobId']} {delivery.detail['status']}"


class BatchDelivery(_Base):
    @precondition(lambda self: bool(self.pending))
    @rule(
        batches=st.lists(batch_picks, min_size=1, max_size=2),
        crashes=st.lists(batch_crash_points, min_size=3, max_size=3),
        forward=st.booleans(),
        refuse=st.one_of(st.none(), st.none(), st.integers(0, 9)),
        refused_after=st.booleans(),
        with_reconcile=st.booleans(),
        choices=st.lists(st.integers(0, 3), max_size=12),
        shuffle=st.one_of(st.none(), st.integers(0, 2**16)),
    )
    def deliver_batch(
        self,
        batches: list[list[int]],
        crashes: list[int | None],
        forward: bool,
        refuse: int | None,
        refused_after: bool,
        with_reconcile: bool,
        choices: list[int],
        shuffle: int | None = None,
    ) -> None:
        """One or two SQS batches at once, each of up to ten pending events picked with
        repetition (a batch may hold one event twice), optionally beside a reconcile
        pass; `forward`: only events that move their run forward, each once (a burst's
        batch, every write together); `refuse`: the first batch's store refuses that
        event's run's writes."""
        self._record("deliver_batch", locals())
        self._tick()
        if not self.pending:  # a twin replaying the history may have delivered it already
            return
        chosen = [self._pick(picks, forward) for picks in batches]
        refused = None
        if refuse is not None:
            refused = chosen[0][refuse % len(chosen[0])].detail["jobId"]
        outcomes: list[list[bool]] = [[] for _ in chosen]
        tasks: list[tuple[str, int | None, Callable[[], None]]] = [
            (
                f"batch {n} [{', '.join(_named(d) for d in c)}]"
                + (f" refusing {refused} after={refused_after}" if n == 0 and refused else ""),
                crashes[n],
                self._batch_call(c, outcomes[n], refused if n == 0 else None, refused_after),
            )
            for n, c in enumerate(chosen)
        ]
        if with_reconcile:
            tasks.append(("reconcile", crashes[2], self._reconcile))
        actors = self._run(f"deliver {len(chosen)} batches", tasks, choices, shuffle)
        if with_reconcile and actors[-1].crashed:
            self.interrupted.update(self.requests)
        for deliveries, recorded, actor in zip(chosen, outcomes, actors, strict=False):
            if actor.crashed or actor.error is not None:
                continue  # the invocation failed: SQS delivers the whole batch again
            for delivery, ok in zip(deliveries, recorded, strict=True):
                if not ok:
                    continue  # a batchItemFailure: delivered again
                delivery.copies -= 1
                if delivery.copies <= 0 and delivery in self.pending:
                    self.pending.remove(delivery)

    def _pick(self, picks: list[int], forward: bool) -> list[Delivery]:
        if not forward:
            return [self.pending[p % len(self.pending)] for p in picks]
        ahead = [d for d in self.pending if rank(d.detail["status"]) > self._recorded(d)]
        chosen: list[Delivery] = []
        for p in picks:
            left = [d for d in ahead if d not in chosen and not _same_run_after(d, chosen)]
            if left:
                chosen.append(left[p % len(left)])
        return chosen or [self.pending[picks[0] % len(self.pending)]]

    def _recorded(self, delivery: Delivery) -> int:
        """The rank of the run's status as stored now (0: no run yet)."""
        run = self.raw.get_run(delivery.detail["jobId"])
        return int(run["status_rank"]) if run else 99

    def _batch_call(
        self,
        deliveries: list[Delivery],
        recorded: list[bool],
        refused: str | None,
        refused_after: bool,
    ) -> Callable[[], None]:
        """The recorder handler's work for one batch: order, read, record together; each
        message's success in `recorded` (by its place in `deliveries`)."""

        def call() -> None:
            records = sqs_records(deliveries)
            ordered = in_recording_order(records)
            observations: list[RunObservation] = []
            for message in ordered:
                event = json.loads(message["body"])
                at = deliveries[int(message["messageId"][2:])].at
                observations.append(observe(BatchJobDetail.model_validate(event["detail"]), at))
            store = RefusingStore(self.store, refused, refused_after)
            outcomes = record.record_batch(store, self.logs, self.objects, observations)
            by_message = {
                m["messageId"]: not isinstance(o, Exception)
                for m, o in zip(ordered, outcomes, strict=True)
            }
            failed = [m for m, ok in by_message.items() if not ok]
            if failed:
                self._note(f"  batch items failed: {failed} ({store.refusals})")
            recorded[:] = [by_message[r["messageId"]] for r in records]

        return call
