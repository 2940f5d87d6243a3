"""The job state machine: one thread per job walks it through AWS Batch's states.

SUBMITTED → PENDING → RUNNABLE → STARTING → RUNNING → SUCCEEDED | FAILED, with a
configurable pause (``Timings.step``) before PENDING, RUNNABLE and RUNNING.
A failed attempt that is retried goes back to RUNNABLE.

* Capacity: a job leaves RUNNABLE only when one of its queue's compute
  environments (in ``computeEnvironmentOrder``) is ENABLED and has room for the
  job's vCPUs under ``computeResources.maxvCpus``; the vCPUs are held from
  STARTING until the attempt stops. A job larger than every CE waits forever,
  as on AWS. Disabled queues do not schedule.
* ``dependsOn`` is recorded but not enforced (the project does not use it).
* Retries and timeouts follow ``overlord_local.localbatch.retry`` (a timed-out or
  terminated attempt is never retried). The timeout counts from the attempt's
  ``startedAt``, multiplied by ``Timings.timeout_scale`` (SubmitJob has already refused
  values under AWS's 60 s minimum).
* When a job is placed, the container override ECS would receive is measured
  (``limits.ecs_container_overrides``); over 8,192 characters the job fails from
  RUNNABLE with ECS's reason and no attempt, as on AWS.
* CancelJob fails jobs that have not reached STARTING; later ones keep running
  (AWS's behaviour). TerminateJob also stops a STARTING/RUNNING attempt.
* Every transition after SUBMITTED is reported through ``emit`` while the service
  lock is held, so events of one job come out in order; ``emit`` must not block.

Array jobs (``Job.array``) have no thread per child: one dispatcher thread per array
moves all children to PENDING, then RUNNABLE (one step each, in chunks so that the API
is not locked out for long), then starts children in index order as capacity allows;
only a child in STARTING/RUNNING has a thread (so at most maxvCpus / vCPUs of them). A
retried child goes back to the dispatcher's queue. The parent never runs: it moves
SUBMITTED → PENDING when its first child becomes RUNNABLE and ends when the last child
ends, SUCCEEDED if every child succeeded, else FAILED. Its ``statusSummary`` is
counted as the children move. CancelJob/TerminateJob on the parent reach every child.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from overlord_local.localbatch.arns import ArnFactory
from overlord_local.localbatch.executors.base import (
    BATCH_LOG_GROUP,
    ContainerSpec,
    Executor,
    ExecutorError,
    Outcome,
    RunningContainer,
)
from overlord_local.localbatch.jobs import Attempt, Job, now_ms
from overlord_local.localbatch.limits import (
    MAX_CONTAINER_OVERRIDES,
    OVERRIDES_TOO_LONG,
    ecs_container_overrides,
    propagated_tags_problem,
)
from overlord_local.localbatch.resources import ComputeEnvironment, Registry
from overlord_local.localbatch.retry import should_retry

log = logging.getLogger(__name__)

CONTAINER_EXITED = "Essential container in task exited"
TIMED_OUT = "Job attempt duration exceeded timeout"
FAILED_TO_START = "Task failed to start"
SERVER_STOPPED = "Local Batch server stopped"
# Children moved per hold of the service lock (each move builds an event).
CHUNK = 500
PASSTHROUGH_PREFIXES = ("AWS_",)


@dataclass(frozen=True)
class Timings:
    """Pauses of the state machine, in seconds."""

    step: float = 0.05
    capacity_recheck: float = 0.5
    # Multiplies attempt timeouts: AWS's minimum is 60 s, so tests of the timeout path
    # run the same job definitions with a scaled clock instead of waiting a minute.
    timeout_scale: float = 1.0


def log_location(job: Job, attempt: int) -> tuple[str, str]:
    """(log group, log stream) of an attempt.

    AWS names the stream ``<job-definition-name>/default/<ECS task id>``; we have no
    ECS task, so the job ID stands in for it. Later attempts get ``-<attempt>``
    appended so each attempt keeps its own stream, as on AWS where every attempt is
    a new task. ``awslogs-group`` / ``awslogs-stream-prefix`` in the definition's
    ``logConfiguration`` are honoured.
    """
    options = (job.container.get("logConfiguration") or {}).get("options") or {}
    group = options.get("awslogs-group", BATCH_LOG_GROUP)
    prefix = options.get("awslogs-stream-prefix", job.definition.name)
    # A child's ID has a colon, which CloudWatch Logs refuses in a stream name.
    name = job.batch_job_id.replace(":", "-")
    suffix = name if attempt == 1 else f"{name}-{attempt}"
    return group, f"{prefix}/default/{suffix}"


def batch_variables(job: Job, ce: ComputeEnvironment, attempt: int) -> dict[str, str]:
    """The variables AWS Batch sets in every job's container."""
    variables = {
        "AWS_BATCH_JOB_ID": job.batch_job_id,
        "AWS_BATCH_JQ_NAME": job.queue.name,
        "AWS_BATCH_CE_NAME": ce.name,
        "AWS_BATCH_JOB_ATTEMPT": str(attempt),
    }
    if job.array_index is not None:
        variables["AWS_BATCH_JOB_ARRAY_INDEX"] = str(job.array_index)
    return variables


class Scheduler:
    def __init__(
        self,
        registry: Registry,
        lock: threading.RLock,
        executor: Executor,
        emit: Callable[[Job], None],
        arns: ArnFactory,
        *,
        timings: Timings | None = None,
        extra_environment: Mapping[str, str] | None = None,
    ) -> None:
        self._registry = registry
        self._cond = threading.Condition(lock)
        self._executor = executor
        self._emit = emit
        self._arns = arns
        self._timings = timings or Timings()
        self._extra_environment = dict(extra_environment or {})
        self._stopping = threading.Event()
        self._threads: dict[str, threading.Thread] = {}
        self._jobs: dict[str, Job] = {}
        self._handles: dict[str, RunningContainer] = {}
        # Children of each array waiting for capacity, by parent job ID.
        self._runnable: dict[str, deque[Job]] = {}

    # -- public -----------------------------------------------------------------
    def submit(self, job: Job) -> None:
        target = self._run if job.array is None else self._run_array
        thread = threading.Thread(target=target, args=(job,), name=f"job:{job.batch_job_id}")
        thread.daemon = True
        with self._cond:
            self._threads[job.batch_job_id] = thread
            self._jobs[job.batch_job_id] = job
            for child in job.array.children if job.array is not None else ():
                self._jobs[child.batch_job_id] = child
        thread.start()

    def cancel(self, job: Job, reason: str) -> None:
        with self._cond:
            if job.array is not None:
                if not job.terminal:
                    job.is_cancelled = True
                for child in job.array.children:
                    self._cancel(child, reason)
            else:
                self._cancel(job, reason)

    def terminate(self, job: Job, reason: str) -> None:
        with self._cond:
            if job.terminal:
                return
            if job.array is not None:
                job.is_terminated = True
                for child in job.array.children:
                    self._terminate(child, reason)
            else:
                self._terminate(job, reason)

    def _cancel(self, job: Job, reason: str) -> None:
        if job.status in ("SUBMITTED", "PENDING", "RUNNABLE"):
            job.is_cancelled = True
            self._fail(job, reason)

    def _terminate(self, job: Job, reason: str) -> None:
        if job.terminal:
            return
        job.is_terminated = True
        if job.status in ("SUBMITTED", "PENDING", "RUNNABLE"):
            self._fail(job, reason)
            return
        job.stop_reason = reason
        handle = self._handles.get(job.batch_job_id)
        if handle is not None:
            # kill waits out the grace period: not with the lock held.
            threading.Thread(target=handle.kill, daemon=True).start()

    def capacity_changed(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def shutdown(self, timeout: float = 15.0) -> None:
        with self._cond:
            self._stopping.set()
            for job in self._jobs.values():
                if not job.terminal:
                    job.stop_reason = job.stop_reason or SERVER_STOPPED
            self._cond.notify_all()
        self._executor.shutdown()
        for thread in list(self._threads.values()):
            thread.join(timeout)

    # -- the walk -----------------------------------------------------------------
    def _run(self, job: Job) -> None:
        try:
            if not self._advance(job, "PENDING") or not self._advance(job, "RUNNABLE"):
                return
            while True:
                ce = self._acquire(job)
                if ce is None:
                    return
                if self._run_attempt(job, ce):
                    return
        except Exception:
            log.exception("job %s: the local scheduler failed", job.batch_job_id)
            with self._cond:
                if not job.terminal:
                    self._release(job)
                    self._fail(job, "ServerException: local scheduler error")
        finally:
            with self._cond:
                self._threads.pop(job.batch_job_id, None)
                self._handles.pop(job.batch_job_id, None)

    # -- the array walk ---------------------------------------------------------------
    def _run_array(self, parent: Job) -> None:
        assert parent.array is not None
        children = parent.array.children
        try:
            for status in ("PENDING", "RUNNABLE"):
                if not self._pause():
                    self._stop_unstarted_children(children)
                    return
                for start in range(0, len(children), CHUNK):
                    with self._cond:
                        for child in children[start : start + CHUNK]:
                            if not child.terminal:
                                self._set_status(child, status)
            with self._cond:
                waiting = self._runnable.setdefault(parent.batch_job_id, deque())
                waiting.extend(c for c in children if c.status == "RUNNABLE")
            self._dispatch(parent, waiting)
        except Exception:
            log.exception("array job %s: the local scheduler failed", parent.batch_job_id)
            with self._cond:
                for child in children:
                    if child.status in ("SUBMITTED", "PENDING", "RUNNABLE"):
                        self._fail(child, "ServerException: local scheduler error")
        finally:
            with self._cond:
                self._threads.pop(parent.batch_job_id, None)
                self._runnable.pop(parent.batch_job_id, None)

    def _dispatch(self, parent: Job, waiting: deque[Job]) -> None:
        """Start waiting children, first in first out, as capacity frees up, until every
        child has ended (a running child may still be retried and come back)."""
        array = parent.array
        assert array is not None
        with self._cond:
            while True:
                while waiting and waiting[0].terminal:  # cancelled while waiting
                    waiting.popleft()
                if self._stopping.is_set():
                    self._stop_unstarted_children(list(waiting))
                    return
                if array.done:
                    return
                if waiting and parent.queue.enabled:
                    child = waiting[0]
                    ce = self._place(child)
                    if ce is not None:
                        # STARTING here, so children start in the order they waited.
                        waiting.popleft()
                        try:
                            begun = self._begin_attempt(child, ce)
                            if begun is not None:
                                self._start_child(child, *begun)
                        except Exception:  # that child only; the others go on
                            log.exception("job %s: could not start", child.batch_job_id)
                            self._release(child)
                            self._fail(child, "ServerException: local scheduler error")
                        continue
                self._cond.wait(self._timings.capacity_recheck)

    def _place(self, job: Job) -> ComputeEnvironment | None:
        """Reserve room for ``job`` on the first compute environment that has it."""
        for ce in self._registry.compute_environments_of(job.queue):
            if ce.fits(job.vcpus):
                ce.used_vcpus += job.vcpus
                job.compute_environment = ce.name
                return ce
        return None

    def _start_child(self, child: Job, attempt: Attempt, spec: ContainerSpec) -> None:
        thread = threading.Thread(
            target=self._run_child,
            args=(child, attempt, spec),
            name=f"job:{child.batch_job_id}",
            daemon=True,
        )
        self._threads[child.batch_job_id] = thread
        thread.start()

    def _run_child(self, child: Job, attempt: Attempt, spec: ContainerSpec) -> None:
        try:
            if not self._attempt(child, attempt, spec):
                assert child.parent is not None
                with self._cond:  # retried: back in the array's queue
                    waiting = self._runnable.get(child.parent.batch_job_id)
                    if waiting is not None and not child.terminal:
                        waiting.append(child)
                        self._cond.notify_all()
        except Exception:
            log.exception("job %s: the local scheduler failed", child.batch_job_id)
            with self._cond:
                if not child.terminal:
                    self._release(child)
                    self._fail(child, "ServerException: local scheduler error")
        finally:
            with self._cond:
                self._threads.pop(child.batch_job_id, None)
                self._handles.pop(child.batch_job_id, None)

    def _stop_unstarted_children(self, children: list[Job]) -> None:
        with self._cond:
            for child in children:
                if child.status in ("SUBMITTED", "PENDING", "RUNNABLE"):
                    self._fail(child, SERVER_STOPPED)

    def _pause(self) -> bool:
        """Wait one step; False when the server is stopping."""
        return not self._stopping.wait(self._timings.step)

    def _advance(self, job: Job, status: str) -> bool:
        if not self._pause():
            self._stop_unstarted(job)
            return False
        with self._cond:
            if job.terminal:
                return False
            self._set_status(job, status)
            return True

    def _acquire(self, job: Job) -> ComputeEnvironment | None:
        with self._cond:
            while True:
                if job.terminal:
                    return None
                if self._stopping.is_set():
                    self._fail(job, SERVER_STOPPED)
                    return None
                if job.queue.enabled:
                    ce = self._place(job)
                    if ce is not None:
                        return ce
                self._cond.wait(self._timings.capacity_recheck)

    def _release(self, job: Job) -> None:
        if job.compute_environment is None:
            return
        ce = self._registry.compute_environments.get(job.compute_environment)
        if ce is not None:
            ce.used_vcpus = max(0.0, ce.used_vcpus - job.vcpus)
        job.compute_environment = None
        self._cond.notify_all()

    def _run_attempt(self, job: Job, ce: ComputeEnvironment) -> bool:
        """Run one attempt; True when the job reached a terminal state."""
        with self._cond:
            begun = self._begin_attempt(job, ce)
        return True if begun is None else self._attempt(job, *begun)

    def _begin_attempt(
        self, job: Job, ce: ComputeEnvironment
    ) -> tuple[Attempt, ContainerSpec] | None:
        """(Lock held.) Move the placed job to STARTING; None when it failed instead
        (ECS would refuse its container overrides, or Batch its propagated tags)."""
        number = len(job.attempts) + 1
        overrides = ecs_container_overrides(
            job.container_overrides,
            command=list(job.container.get("command") or []),
            batch_variables=batch_variables(job, ce, number),
        )
        if len(overrides) > MAX_CONTAINER_OVERRIDES:
            log.info("job %s: container overrides are %d long", job.batch_job_id, len(overrides))
            self._release(job)
            self._fail(job, OVERRIDES_TOO_LONG)
            return None
        too_many_tags = propagated_tags_problem(
            job.tags, job.definition.body.get("tags") or {}, job.propagate_tags
        )
        if too_many_tags:
            self._release(job)
            self._fail(job, too_many_tags)
            return None
        group, stream = log_location(job, number)
        task_id = uuid.uuid4().hex
        task_arn = f"arn:aws:ecs:{self._arns.region}:{self._arns.account}:task/{ce.name}/{task_id}"
        attempt = Attempt(number=number, log_stream_name=stream, task_arn=task_arn)
        job.current = attempt
        self._set_status(job, "STARTING")
        return attempt, self._spec(job, ce, attempt, group)

    def _attempt(self, job: Job, attempt: Attempt, spec: ContainerSpec) -> bool:
        """Start the STARTING attempt's container and see it end; True when terminal."""
        number = attempt.number
        self._pause()
        with self._cond:
            if job.stop_reason:
                return self._finish(job, attempt, Outcome(exit_code=None), started=False)
        try:
            handle = self._executor.start(spec)
        except ExecutorError as exc:
            with self._cond:
                return self._finish(job, attempt, Outcome(None, exc.reason), started=False)
        with self._cond:
            self._handles[job.batch_job_id] = handle
            attempt.started_at = now_ms()
            job.started_at = attempt.started_at
            self._set_status(job, "RUNNING")
            stop_now = bool(job.stop_reason)
        if stop_now:
            handle.kill()
        limit = job.attempt_timeout
        outcome = handle.wait(limit * self._timings.timeout_scale if limit else None)
        timed_out = outcome is None
        if outcome is None:
            log.info("job %s attempt %d: timed out", job.batch_job_id, number)
            handle.kill()
            outcome = handle.wait() or Outcome(exit_code=None)
        with self._cond:
            self._handles.pop(job.batch_job_id, None)
            return self._finish(job, attempt, outcome, started=True, timed_out=timed_out)

    def _finish(
        self,
        job: Job,
        attempt: Attempt,
        outcome: Outcome,
        *,
        started: bool,
        timed_out: bool = False,
    ) -> bool:
        """Record the stopped attempt and move the job on; True when terminal."""
        stopped = now_ms()
        attempt.stopped_at = stopped
        if attempt.started_at is None:
            attempt.started_at = stopped
        attempt.exit_code = outcome.exit_code
        attempt.reason = outcome.reason
        if timed_out:
            attempt.status_reason = TIMED_OUT
        elif job.stop_reason:
            attempt.status_reason = job.stop_reason
        elif not started:
            attempt.status_reason = FAILED_TO_START
        else:
            attempt.status_reason = CONTAINER_EXITED
        job.attempts.append(attempt)
        job.current = None
        self._release(job)
        if timed_out or job.stop_reason:
            self._fail(job, attempt.status_reason)
            return True
        if started and outcome.exit_code == 0:
            job.stopped_at = stopped
            job.status_reason = CONTAINER_EXITED
            self._set_status(job, "SUCCEEDED")
            return True
        if (
            should_retry(
                job.retry_strategy,
                attempt.number,
                outcome.exit_code,
                outcome.reason,
                attempt.status_reason,
            )
            and not self._stopping.is_set()
        ):
            self._set_status(job, "RUNNABLE")
            return False
        self._fail(job, attempt.status_reason)
        return True

    # -- helpers (lock held) ---------------------------------------------------------
    def _set_status(self, job: Job, status: str) -> None:
        old, job.status = job.status, status
        try:
            self._emit(job)
        except Exception:
            log.exception("job %s: emitting the %s event failed", job.batch_job_id, status)
        if job.parent is not None:
            self._child_moved(job.parent, job, old, status)

    def _child_moved(self, parent: Job, child: Job, old: str, new: str) -> None:
        """Count the move in the parent's summary; move the parent when AWS would."""
        array = parent.array
        assert array is not None
        array.moved(old, new)
        if new == "RUNNING" and parent.started_at is None:
            parent.started_at = child.started_at
        if parent.terminal:
            return
        if new == "RUNNABLE" and parent.status == "SUBMITTED":
            self._set_status(parent, "PENDING")
        elif array.done:
            parent.stopped_at = now_ms()
            failed = array.summary["FAILED"]
            if failed:
                parent.status_reason = f"{failed} of {array.size} array child jobs failed"
                self._set_status(parent, "FAILED")
            else:
                self._set_status(parent, "SUCCEEDED")
            self._cond.notify_all()

    def _fail(self, job: Job, reason: str | None) -> None:
        job.status_reason = reason
        job.stopped_at = now_ms()
        self._set_status(job, "FAILED")
        self._cond.notify_all()

    def _stop_unstarted(self, job: Job) -> None:
        with self._cond:
            if not job.terminal:
                self._fail(job, SERVER_STOPPED)

    def _spec(
        self, job: Job, ce: ComputeEnvironment, attempt: Attempt, group: str
    ) -> ContainerSpec:
        env = {k: v for k, v in os.environ.items() if k.startswith(PASSTHROUGH_PREFIXES)}
        env.update(self._extra_environment)
        env.update({e["name"]: str(e.get("value", "")) for e in job.container["environment"]})
        env.update(batch_variables(job, ce, attempt.number))
        return ContainerSpec(
            batch_job_id=job.batch_job_id,
            attempt=attempt.number,
            image=job.container.get("image") or "",
            command=list(job.container.get("command") or []),
            environment=env,
            vcpus=job.vcpus,
            memory_mib=job.memory_mib,
            log_group=group,
            log_stream=attempt.log_stream_name,
        )
