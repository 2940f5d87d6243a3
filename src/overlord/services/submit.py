"""Submitting jobs: claim in MongoDB, then Batch, then record the run.

docs/design.md, "Submitting", gives the rules.
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from overlord.domain import arrays, rules, schema
from overlord.domain.clock import utcnow
from overlord.domain.errors import (
    InvalidRequest,
    JobNotFound,
    NothingToRerun,
    OverlordError,
    RunInProgress,
    SubmitOutcomeUnknown,
)
from overlord.domain.item_offsets import item_offsets
from overlord.domain.request import MAX_TAGS, JobRequest
from overlord.domain.schema import JobDocument, RunDocument
from overlord.domain.status import RERUNNABLE, SUBMIT_FAILED, RunStatus, rank
from overlord.domain.submission import (
    items_json,
    overrides_size,
    parameters_json,
    submit_request,
    worker_environment,
)
from overlord.ports import Batch, BatchJobRef, Objects, Store
from overlord_contracts.bucket_layout import item_offsets_key, parameters_key, selection_key
from overlord_contracts.catalogue import Catalogue, Task, job_definition_name

logger = logging.getLogger(__name__)

# Longer than any submitter invocation can live (API Gateway gives up after 30 s), so a
# claim that lapses belongs to a process that is gone.
CLAIM_LEASE = timedelta(seconds=60)

# Every job Overlord submits carries this tag, valued with its deployment's name: the
# submitter's IAM policy lets it cancel and terminate only jobs that carry it, and tag
# only new jobs that do (terraform/modules/functions). Users may not set it.
DEPLOYMENT_TAG = "OverlordDeployment"


@dataclass(frozen=True)
class SubmitConfig:
    job_queue: str
    catalogue: Catalogue
    # Settings.job_definition_prefix (JOB_DEFINITION_PREFIX): this deployment registers a
    # task's job definition as this + its contract name (overlord-<task>).
    job_definition_prefix: str
    overrides_budget: int  # characters of container overrides; see Settings
    image_tasks: bool = True  # False where Batch cannot run images (`make dev`)
    # The image tasks with an image deployed (Settings.task_images); None: all of them.
    deployed_images: frozenset[str] | None = None
    deployment: str = "overlord"  # the value of DEPLOYMENT_TAG on every job
    # Tags the job definitions carry; with propagateTags AWS fails a job whose tags and
    # its definition's exceed 50 (after accepting it), so the user's get what is left.
    definition_tag_count: int = 0
    # Settings.batch_list_delay_seconds: after SubmitJob's answer was lost, the claim is
    # held this long, so that whoever looks for the job by name next finds it listed.
    list_delay: timedelta = timedelta(seconds=60)

    @property
    def own_tags(self) -> dict[str, str]:
        return {DEPLOYMENT_TAG: self.deployment}

    @property
    def user_tag_limit(self) -> int:
        return MAX_TAGS - self.definition_tag_count - len(self.own_tags)

    def job_definition(self, task: str) -> str:
        """Task `task`'s job definition as this deployment registered it."""
        return self.job_definition_prefix + job_definition_name(task)


@dataclass(frozen=True)
class Submission:
    job_id: str
    status: str
    batch_job_id: str | None
    run_number: int | None
    created: bool  # True: this request (re)submitted the job to Batch
    array_size: int | None = None  # children of the Batch array job it submitted


def _submission(job: JobDocument, created: bool) -> Submission:
    latest = job["latest_run"]
    return Submission(
        job_id=job["_id"],
        status=job["status"],
        batch_job_id=latest["batch_job_id"] if latest else None,
        run_number=latest["run"] if latest else None,
        created=created,
    )


def runnable_task(config: SubmitConfig, name: str) -> Task:
    """The catalogue's task, if this deployment can run it (else InvalidRequest, 400)."""
    task = config.catalogue.task(name)
    if task.image and not config.image_tasks:
        raise InvalidRequest(
            f"task: {name!r} runs the container image {task.image}, and this stack runs jobs "
            "as local processes (`make dev`); run it under `make up` (Docker), or give the "
            "task a Python entry point"
        )
    if task.image and config.deployed_images is not None and name not in config.deployed_images:
        raise InvalidRequest(
            f"task: {name!r} runs its own container image ({task.image}), and this deployment "
            "has no image for it: deploy.sh builds and pushes an image task whose folder "
            f"examples/tasks/{name} has a Dockerfile, or set task_images in Terraform"
        )
    return task


def _check_tags(config: SubmitConfig, tags: dict[str, str]) -> None:
    for key in config.own_tags:
        if key in tags:
            raise InvalidRequest(f"tags: {key!r} is set by Overlord on every job; use another key")
    if len(tags) > config.user_tag_limit:
        raise InvalidRequest(
            f"tags: at most {config.user_tag_limit} tags here, not {len(tags)}: AWS Batch allows "
            f"{MAX_TAGS} per job together with its job definition's {config.definition_tag_count} "
            f"and Overlord's {len(config.own_tags)}"
        )


def admit(config: SubmitConfig, request: JobRequest) -> JobRequest:
    """Check a request against its task before anything is written: the task exists and
    can run here, the parameters match its schema, and `attempts` / `timeout_seconds`
    only tighten the task's own (which fill them in when absent)."""
    return _admit(config, runnable_task(config, request.task), request)


def _admit(config: SubmitConfig, task: Task, request: JobRequest) -> JobRequest:
    """`admit`, with the request's task found already."""
    _check_tags(config, request.tags)
    if request.items is not None:
        task.check_items(request.items)
    else:
        task.check_parameters(request.parameters)
    if request.attempts is not None and request.attempts > task.attempts:
        raise InvalidRequest(
            f"attempts: {request.attempts} is more than task {task.name!r} allows ({task.attempts})"
        )
    if request.timeout_seconds is not None and request.timeout_seconds > task.timeout_seconds:
        raise InvalidRequest(
            f"timeout_seconds: {request.timeout_seconds} is longer than task {task.name!r} "
            f"allows ({task.timeout_seconds})"
        )
    return request.model_copy(
        update={
            "attempts": request.attempts or task.attempts,
            "timeout_seconds": request.timeout_seconds or task.timeout_seconds,
        }
    )


def submit_job(
    store: Store,
    batch: Batch,
    objects: Objects,
    config: SubmitConfig,
    request: JobRequest,
    created_by: str | None = None,
) -> Submission:
    task = runnable_task(config, request.task)
    admitted = _admit(config, task, request)
    now = utcnow()
    job = schema.new_job(admitted, now, created_by)
    owner = uuid.uuid4().hex
    claim = store.claim_job(job, owner, now, CLAIM_LEASE)
    if not claim.claimed:
        return _submission(claim.job, created=False)
    items = schema.new_items(admitted) if admitted.is_array else None
    return _submit_claimed(
        store,
        batch,
        objects,
        config,
        claim.job,
        claim.taken_over,
        _Input(task=task, json=admitted.input_json, items=items),
        owner,
    )


def start_new_run(
    store: Store,
    batch: Batch,
    objects: Objects,
    config: SubmitConfig,
    job_id: str,
    only_failed: bool = False,
) -> Submission:
    """A deliberate re-run: a new Batch job for a job whose last run has finished; with
    `only_failed` (an array job), of the items whose latest outcome is FAILED only."""
    selection = failed_items(store, job_id) if only_failed else None
    now = utcnow()
    owner = uuid.uuid4().hex
    job = store.claim_new_run(job_id, owner, now, CLAIM_LEASE, selection)
    if job is None:
        existing = store.get_job(job_id)
        if existing is None:
            raise JobNotFound(job_id)
        raise RunInProgress(
            f"job {job_id} is {existing['status']}; a new run can start once it has finished"
        )
    return _submit_claimed(
        store,
        batch,
        objects,
        config,
        job,
        job["status"] == SUBMIT_FAILED,
        _Input(selection=tuple(selection) if selection is not None else None),
        owner,
    )


def failed_items(store: Store, job_id: str) -> list[int]:
    """The items of an array job whose latest outcome is FAILED, ascending. Refused (409)
    while the job has a run in flight, while its latest run's children are not all
    recorded yet, or when none failed."""
    job = store.get_job(job_id)
    if job is None:
        raise JobNotFound(job_id)
    if "items_count" not in job:
        raise InvalidRequest(f"only: job {job_id} is not an array job; re-run it whole")
    if job["status"] not in RERUNNABLE:
        raise RunInProgress(
            f"job {job_id} is {job['status']}; a new run can start once it has finished"
        )
    outcomes = arrays.latest_outcomes(
        [(run, run_children(store, run)) for run in store.list_runs(job_id)]
    )
    failed = sorted(item for item, status in outcomes.items() if status == RunStatus.FAILED)
    latest = job["latest_run"]
    run = store.get_run(latest["batch_job_id"]) if latest else None
    if run is not None and "array" in run:
        # Batch's final count, from the parent's last event: children's own events may
        # still be on their way.
        counted = (run["array"].get("status_summary") or {}).get(RunStatus.FAILED, 0)
        recorded = sum(1 for s in run_children(store, run).values() if s == RunStatus.FAILED)
        if counted > recorded:
            raise RunInProgress(
                f"job {job_id}: Batch counts {counted} failed children of run {run['run']}, "
                f"{recorded} recorded so far; ask again shortly"
            )
    if not failed:
        raise NothingToRerun(f"only: no item of job {job_id} failed; nothing to re-run")
    return failed


def run_children(store: Store, run: RunDocument) -> dict[int, str | None]:
    """A run's outcomes by child index; a plain Batch job (one item) is its own child 0."""
    if "item" in run:
        return {0: run["status"]}
    return {c.index: c.status for c in store.children(run["_id"])}


@dataclass(frozen=True)
class _Input:
    """What a submission runs. From a request: the task admission found, the request's
    canonical JSON (computed once, in JobRequest) and, for an array job, the items to
    store. For a re-run: only the items it runs (None: all of them); the task is looked
    up again, and the input read back from the job (and its stored items)."""

    task: Task | None = None
    json: str | None = None
    items: schema.ItemsDocument | None = None
    selection: tuple[int, ...] | None = None


def _submit_claimed(
    store: Store,
    batch: Batch,
    objects: Objects,
    config: SubmitConfig,
    job: JobDocument,
    taken_over: bool,
    given: _Input,
    owner: str,
) -> Submission:
    job_id = job["_id"]
    job_definition = config.job_definition(job["task"])
    try:
        # A claim taken over (a failed submission, or a lapsed one) may have reached Batch
        # with its answer lost on the way back: adopt that job rather than start another.
        adopted = unrecorded_batch_jobs(store, batch, job) if taken_over else []
        if adopted:
            batch_job_id = adopted[0].batch_job_id
            # It ran what the attempt that made it was to run (kept on the job till now).
            shape = shape_of(job, job.get("selection"))
        else:
            shape = shape_of(job, given.selection)
            batch_job_id = _submit_new(
                store, batch, objects, config, job, given, shape, job_definition
            )
    except SubmitOutcomeUnknown as exc:
        # Batch may have the job, and ListJobs may not list it yet: keep the claim,
        # so that no request takes the job over, finds nothing and submits again.
        now = utcnow()
        store.hold_claim(job_id, owner, now + config.list_delay, str(exc), now)
        exc.retry_after_seconds = math.ceil(config.list_delay.total_seconds())
        raise
    except OverlordError as exc:
        store.mark_submit_failed(job_id, str(exc), utcnow(), owner)
        raise
    except Exception as exc:
        # Anything else (S3 down, a bug) must not leave the job claimed.
        reason = f"submission failed: {type(exc).__name__}"
        store.mark_submit_failed(job_id, reason, utcnow(), owner)
        raise
    verb = "adopted" if adopted else "submitted"
    logger.info(f"{verb} Batch job", extra={"job_id": job_id, "batch_job_id": batch_job_id})
    run_number = record_accepted_run(
        store,
        job,
        batch_job_id,
        verb=verb,
        job_queue=config.job_queue,
        job_definition=job_definition,
        shape=shape,
    )
    array_size = shape.array_size if shape else None
    return Submission(job_id, RunStatus.SUBMITTED.value, batch_job_id, run_number, True, array_size)


def unrecorded_batch_jobs(store: Store, batch: Batch, job: JobDocument) -> list[BatchJobRef]:
    """Batch jobs named after this job that are none of its recorded runs, newest first.

    A run the recorder created from an event has no number until the submitter records
    it, and a run numbered by a submitter that stopped before pointing the job at it is
    beyond the job's run_count: both still count as unrecorded here.
    """
    known = {
        r["_id"]
        for r in store.list_runs(job["_id"])
        if not rules.is_unrecorded(r["run"], job["run_count"])
    }
    if job["latest_run"]:
        known.add(job["latest_run"]["batch_job_id"])
    return [ref for ref in batch.find_by_name(job["_id"]) if ref.batch_job_id not in known]


def shape_of(job: JobDocument, selection: Sequence[int] | None) -> arrays.RunShape | None:
    if "items_count" not in job:
        return None
    return arrays.RunShape(job["items_count"], tuple(selection) if selection else None)


def _submit_new(
    store: Store,
    batch: Batch,
    objects: Objects,
    config: SubmitConfig,
    job: JobDocument,
    given: _Input,
    shape: arrays.RunShape | None,
    job_definition: str,
) -> str:
    """A new Batch job for the claimed job; its batch_job_id."""
    task = given.task or runnable_task(config, job["task"])
    if given.items is not None:
        # Before Batch: a re-run reads them back (S3's copy under params/ expires).
        store.save_items(given.items)
    text = _input_json(store, job, given)
    environment = _worker_environment(objects, config, job, text, shape)
    request = submit_request(
        job,
        task,
        job_queue=config.job_queue,
        job_definition=job_definition,
        environment=environment,
        array_size=shape.array_size if shape else None,
        own_tags=config.own_tags,
    )
    return batch.submit(request)


def _input_json(store: Store, job: JobDocument, given: _Input) -> str:
    if given.json is not None:
        return given.json
    if "items_count" not in job:
        return parameters_json(job)
    stored = store.get_items(job["_id"])
    if stored is None:
        raise OverlordError(f"job {job['_id']}: its items are missing from the store")
    return items_json(stored)


def _worker_environment(
    objects: Objects,
    config: SubmitConfig,
    job: JobDocument,
    text: str,
    shape: arrays.RunShape | None,
) -> dict[str, str]:
    """The input inline when the whole override fits Batch's budget, else through S3
    (an array's items with their offsets, so that each child reads only its own; and
    for a re-run of many items whose list does not fit either, that list as well)."""
    indices = json.dumps(shape.indices, separators=(",", ":")) if shape and shape.indices else None
    inline = worker_environment(job, shape, text=text, indices=indices)
    if overrides_size(inline) <= config.overrides_budget:
        return inline
    uri = objects.put_text(parameters_key(job["_id"]), text)
    offsets_uri = None
    if shape is not None:
        # From the text just written, so the spans are its bytes. Both objects are
        # deterministic for the job, so a re-run rewriting them changes neither.
        offsets_uri = objects.put_bytes(item_offsets_key(job["_id"]), item_offsets(text))
    through_s3 = worker_environment(job, shape, uri=uri, offsets_uri=offsets_uri, indices=indices)
    if indices is None or overrides_size(through_s3) <= config.overrides_budget:
        return through_s3
    indices_uri = objects.put_text(selection_key(job["_id"], job["run_count"] + 1), indices)
    return worker_environment(job, shape, uri=uri, offsets_uri=offsets_uri, indices_uri=indices_uri)


def record_accepted_run(
    store: Store,
    job: JobDocument,
    batch_job_id: str,
    *,
    verb: str,
    job_queue: str | None = None,
    job_definition: str | None = None,
    shape: arrays.RunShape | None = None,
) -> int:
    """Batch holds a job for this claim (submitted or adopted): record it as the next run.

    Returns the run number. The store retries passing MongoDB failures; if it still
    fails the client gets 503 and reconcile adopts the Batch job later. The run's lines
    are written before the run: once the run is recorded nothing writes them again, so a
    process stopped in between would lose them (written first, a second writer's are
    duplicates and ignored).
    """
    job_id = job["_id"]
    now = utcnow()
    run_number = job["run_count"] + 1
    submitted = RunStatus.SUBMITTED.value
    run = schema.new_run(
        batch_job_id=batch_job_id,
        job_id=job_id,
        run_number=run_number,
        at=now,
        job_queue=job_queue,
        job_definition=job_definition,
    )
    run["status"], run["status_rank"] = submitted, rank(submitted)
    run["status_history"] = {submitted: now}
    array_size = shape.array_size if shape else None
    if shape is not None and array_size is not None:
        run["array"] = {"size": array_size}
        if shape.indices is not None:
            run["array"]["indices"] = shape.indices
    elif shape is not None and shape.item is not None:
        run["item"] = shape.item
    where = f" in {job_queue}" if job_queue else ""
    if array_size is not None:
        where += f", an array of {array_size}"
    if shape is not None and shape.selection is not None:
        where += f" (re-running {len(shape.selection)} of {shape.items_count} items)"
    store.append_logs(
        [
            schema.log_record(
                job_id=job_id,
                batch_job_id=batch_job_id,
                attempt=0,
                kind=schema.LogKind.SUBMISSION,
                seq=0,
                ts=now,
                message=f"{verb} run {run_number}{where}",
                run_number=run_number,
            ),
            schema.state_record(job_id, batch_job_id, submitted, now, None),
        ]
    )
    store.record_submitted_run(run, now)
    return run_number
