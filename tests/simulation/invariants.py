"""What must hold once a history has settled (docs/reliability.md, "Simulated histories"),
and the reference it is compared with: the same Batch jobs recorded in order, each event
delivered once, on a fresh FakeStore."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from overlord.domain import schema
from overlord.domain.status import IN_FLIGHT, SUBMIT_FAILED, TERMINAL
from overlord.ports.batch_events import BatchJobDetail, observe
from overlord.services import reconcile, record, submit
from tests.simulation.world import SimJob, utc_ms
from tests.unit.fakes import CONFIG, FakeStore

if TYPE_CHECKING:
    from tests.simulation.machine import History

# Written from the services' own clock, or counting their attempts, not from what
# happened: left out of comparisons.
CLOCK_FIELDS = frozenset({"updated_at", "reconciled_at", "claim", "submit_failures"})


def documents(store: Any) -> dict[str, list[dict[str, Any]]]:
    """The store's jobs, runs and log lines, sorted, as plain dictionaries."""
    if isinstance(store, FakeStore):
        jobs, runs, logs = store.jobs.values(), store.runs.values(), store.logs.values()
    else:
        jobs = store.jobs.find({})
        runs = store.runs.find({})
        logs = store.logs.find({})
    return {
        "jobs": sorted((_plain(j) for j in jobs), key=lambda d: d["_id"]),
        "runs": sorted((_plain(r) for r in runs), key=lambda d: d["_id"]),
        "logs": sorted(
            (_plain(x) for x in logs),
            key=lambda x: (x["batch_job_id"], x["phase"], x["attempt"], x["kind"], x["seq"]),
        ),
    }


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def comparable(docs: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Documents without what depends on the services' clock or on who wrote first by
    design (a submission line says `submitted` or `adopted`, dated by whoever wrote it)."""
    jobs = [{k: v for k, v in j.items() if k not in CLOCK_FIELDS} for j in docs["jobs"]]
    runs = [
        {k: v for k, v in r.items() if k not in CLOCK_FIELDS | {"cancel"}} for r in docs["runs"]
    ]
    logs = []
    for line in docs["logs"]:
        kept = {k: v for k, v in line.items() if k != "_id" or line["kind"] == "state"}
        if line["kind"] == schema.LogKind.SUBMISSION:
            kept.pop("ts")
            kept.pop("message")
        logs.append(kept)
    return {"jobs": jobs, "runs": runs, "logs": logs}


def in_flight(history: History) -> list[str]:
    return [
        job_id
        for job_id in history.requests
        if (job := history.raw.get_job(job_id)) is not None and job["status"] in IN_FLIGHT
    ]


def _job_view(store: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    if isinstance(store, FakeStore):  # read only: no copies
        return dict(store.jobs), dict(store.runs)
    jobs = {j["_id"]: j for j in store.jobs.find({})}
    return jobs, {r["_id"]: r for r in store.runs.find({})}


def safety(history: History) -> list[str]:
    """At every moment: a job is terminal only once its latest run is, and an array job
    only once every child's ending is recorded; a job points only at a recorded run."""
    jobs, runs = _job_view(history.raw)
    problems = []
    for job_id, job in jobs.items():
        latest = job["latest_run"]
        if latest is None:
            continue
        run = runs.get(latest["batch_job_id"])
        if run is None or run["run"] != latest["run"]:
            problems.append(f"{job_id}: latest_run {latest} but the run is {run and run['run']}")
            continue
        if job["status"] not in TERMINAL:
            continue
        if run["status"] not in TERMINAL:
            problems.append(f"{job_id}: {job['status']} while its run is {run['status']}")
        if "array" in run:
            children = [r for r in runs.values() if r.get("parent") == run["_id"]]
            ended = sum(1 for c in children if c["status"] in TERMINAL)
            if ended < run["array"]["size"]:
                problems.append(
                    f"{job_id}: {job['status']} with {ended} of {run['array']['size']} "
                    "children ended"
                )
    return problems


def events_suffice(history: History) -> list[str]:
    """Once Batch has finished and every event is delivered: each job whose recording
    was not interrupted shows its latest run's final status (no reconcile needed)."""
    jobs, runs = _job_view(history.raw)
    problems = []
    for job_id, job in jobs.items():
        latest = job["latest_run"]
        if job_id in history.interrupted or latest is None:
            continue
        run = runs.get(latest["batch_job_id"])
        truth = history.batch.jobs.get(latest["batch_job_id"])
        if run is None or truth is None or not truth.ended:
            continue
        if job["status"] != truth.status:
            problems.append(
                f"{job_id}: {job['status']} after every event of its run "
                f"({truth.batch_job_id}, {truth.status}) was delivered"
            )
    return problems


def check(history: History) -> None:
    docs = documents(history.raw)
    problems = list(_invariants(history, docs))
    if not problems:
        expected = comparable(documents(reference(history)))
        got = comparable(docs)
        problems += [f"differs from in-order delivery: {d}" for d in differences(expected, got)]
    if problems:
        raise AssertionError(
            "invariants broken:\n  "
            + "\n  ".join(problems[:20])
            + "\nhistory:\n"
            + "\n".join(history.scheduler.trace)
        )


def _invariants(history: History, docs: dict[str, list[dict[str, Any]]]) -> Iterable[str]:
    batch = history.batch
    jobs = {j["_id"]: j for j in docs["jobs"]}
    runs = {r["_id"]: r for r in docs["runs"]}
    lines = docs["logs"]
    for job_id, job in jobs.items():
        named = sorted(
            (b for b in batch.jobs.values() if b.name == job_id and b.parent is None),
            key=lambda b: b.created_ms,
        )
        # At most one Batch job per (job, run number); none without its run.
        numbers = Counter(runs[b.batch_job_id]["run"] for b in named if b.batch_job_id in runs)
        for number, count in numbers.items():
            if count > 1:
                yield f"{job_id}: {count} Batch jobs for run {number}"
        for b in named:
            if b.batch_job_id not in runs:
                yield f"{job_id}: Batch job {b.batch_job_id} has no run in `runs`"
        if job["status"] == SUBMIT_FAILED and named:
            yield f"{job_id}: SUBMIT_FAILED although Batch has {[b.batch_job_id for b in named]}"
        if job["status"] in IN_FLIGHT:
            yield f"{job_id}: still {job['status']} after the history settled"
        own = [r for r in runs.values() if r["job_id"] == job_id and "parent" not in r]
        for r in own:
            if r["run"] is None:
                yield f"{job_id}: run {r['_id']} has no number"
        if sorted(r["run"] or 0 for r in own) != list(range(1, len(own) + 1)):
            yield f"{job_id}: run numbers {sorted(r['run'] or 0 for r in own)}"
        latest = job["latest_run"]
        if latest is None:
            if own:
                yield f"{job_id}: runs {[r['_id'] for r in own]} but no latest_run"
            continue
        run = runs.get(latest["batch_job_id"])
        if run is None:
            yield f"{job_id}: latest_run {latest['batch_job_id']} is not in `runs`"
            continue
        if run["run"] != latest["run"] or latest["run"] != job["run_count"]:
            yield f"{job_id}: latest_run {latest} vs run {run['run']}, run_count {job['run_count']}"
        truth = batch.jobs[run["_id"]]
        yield from _status(job_id, job, run, truth, runs, batch.jobs)
    yield from _lines(history, lines, runs)


def _status(
    job_id: str,
    job: dict[str, Any],
    run: dict[str, Any],
    truth: SimJob,
    runs: dict[str, dict[str, Any]],
    sim: dict[str, SimJob],
) -> Iterable[str]:
    if run["status"] != truth.status:
        yield f"{job_id}: run {run['_id']} is {run['status']}, Batch says {truth.status}"
    expected = run["status"]
    if "array" in run:
        children = [r for r in runs.values() if r.get("parent") == run["_id"]]
        ended = sum(1 for c in children if c["status"] in TERMINAL)
        if run["array"].get("ended", 0) != ended:
            yield f"{job_id}: array.ended {run['array'].get('ended')} but {ended} children ended"
        for child in children:
            if child["status"] != sim[child["_id"]].status:
                yield (
                    f"{job_id}: child {child['_id']} is {child['status']}, "
                    f"Batch says {sim[child['_id']].status}"
                )
        if ended < run["array"]["size"] and expected in TERMINAL:
            expected = "not terminal"
    if job["status"] != expected or job["latest_run"]["status"] != job["status"]:
        yield (
            f"{job_id}: job {job['status']} (latest_run {job['latest_run']['status']}), "
            f"its latest run {run['_id']} {run['status']}"
        )
    if (job["status"] in TERMINAL) != truth.ended:
        yield f"{job_id}: job {job['status']} but Batch's job is {truth.status}"


def _lines(
    history: History, lines: list[dict[str, Any]], runs: dict[str, dict[str, Any]]
) -> Iterable[str]:
    stored = Counter((x["batch_job_id"], x["attempt"], x["kind"], x["seq"]) for x in lines)
    for identity, count in stored.items():
        if count > 1:
            yield f"line {identity} stored {count} times"
    if not history.check_follower:
        return
    for job_id, follower in history.followers.items():
        # The job's own runs' lines (an array's children are read with `index`).
        mine = {
            (x["batch_job_id"], x["attempt"], x["kind"], x["seq"])
            for x in lines
            if x["job_id"] == job_id and "parent" not in runs.get(x["batch_job_id"], {})
        }
        seen = Counter(follower.seen)
        twice = [k for k, n in seen.items() if n > 1]
        missed = mine - set(seen)
        if twice:
            yield f"{job_id}: the follower saw {twice} more than once"
        if missed:
            yield f"{job_id}: the follower never saw {sorted(missed)}"


def reference(history: History) -> FakeStore:
    """The same Batch jobs, recorded in order, each event delivered once in order."""
    store = FakeStore()
    clock = history.clock
    final = clock.now
    events: dict[str, list[dict[str, Any]]] = {}
    for detail in history.batch.events:
        events.setdefault(detail["jobId"].split(":")[0], []).append(detail)
    try:
        for job_id in sorted(history.requests):
            real = history.raw.get_job(job_id)
            if real is None:
                continue
            request = history.requests[job_id]
            job = schema.new_job(request, real["created_at"], real.get("created_by"))
            store.claim_job(job, "reference", real["created_at"], submit.CLAIM_LEASE)
            if request.is_array:
                store.save_items(schema.new_items(request))
            named = sorted(
                (b for b in history.batch.jobs.values() if b.name == job_id and b.parent is None),
                key=lambda b: b.created_ms,
            )
            if not named:  # never reached Batch: why it failed is the history's (throttled, …)
                store.jobs[job_id].update(
                    status=real["status"], status_reason=real["status_reason"], claim=None
                )
            for number, b in enumerate(named, start=1):
                clock.now = utc_ms(b.created_ms)
                selection = b.item_indices or ([b.item] if b.item is not None else None)
                if number > 1:
                    store.claim_new_run(
                        job_id, "reference", clock.now, submit.CLAIM_LEASE, selection
                    )
                before = store.get_job(job_id)
                assert before is not None
                submit.record_accepted_run(
                    store,
                    before,
                    b.batch_job_id,
                    verb="submitted",
                    job_queue=CONFIG.job_queue,
                    job_definition=CONFIG.job_definition(before["task"]),
                    shape=submit.shape_of(before, selection),
                )
                for detail in events.get(b.batch_job_id, []):
                    at = utc_ms(_event_ms(detail))
                    clock.now = at
                    record.record_observation(
                        store,
                        history.logs,
                        history.objects,
                        observe(BatchJobDetail.model_validate(detail), at),
                    )
        clock.now = final
        for _ in range(2):
            reconcile.reconcile(
                store,
                history.batch,
                history.logs,
                history.objects,
                older_than_seconds=0,
                settle_logs_seconds=0,
            )
    finally:
        clock.now = final
    return store


def _event_ms(detail: dict[str, Any]) -> int:
    return int(detail["_at"])


def differences(expected: Any, got: Any, path: str = "") -> list[str]:
    if isinstance(expected, dict) and isinstance(got, dict):
        return [
            line
            for key in sorted(set(expected) | set(got), key=str)
            for line in differences(expected.get(key), got.get(key), f"{path}.{key}")
        ]
    if isinstance(expected, list) and isinstance(got, list) and len(expected) == len(got):
        return [
            line
            for i, (e, g) in enumerate(zip(expected, got, strict=True))
            for line in differences(e, g, f"{path}[{i}]")
        ]
    return [] if expected == got else [f"{path}: {expected!r} -> {got!r}"]
