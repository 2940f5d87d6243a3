"""The AWS Batch operations, as methods taking and returning the API's JSON dicts.

``LocalBatch`` owns the registry, the jobs, the scheduler and one lock; the HTTP
layer (``api.py``) only maps a URI to a method. Validation follows AWS closely
enough that callers get the same ``ClientException`` where it matters.
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from overlord_local.chaos import Chaos
from overlord_local.localbatch.arns import (
    DEFAULT_ACCOUNT,
    ArnFactory,
    resource_name,
    split_revision,
)
from overlord_local.localbatch.errors import (
    ClientException,
    ServerException,
    TooManyRequestsException,
)
from overlord_local.localbatch.events import state_change_event
from overlord_local.localbatch.executors.base import Executor
from overlord_local.localbatch.faults import (
    SERVER_ERROR,
    SERVER_ERROR_AFTER_CREATE,
    THROTTLE,
    SubmitFaults,
)
from overlord_local.localbatch.jobs import STATUSES, Job, build_container
from overlord_local.localbatch.limits import (
    MAX_TAGS,
    check_array,
    check_job_name,
    check_submit_size,
    check_tags,
    check_timeout,
)
from overlord_local.localbatch.resources import Registry
from overlord_local.localbatch.scheduler import Scheduler, Timings

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]
EventSink = Callable[[JsonDict], None]
MAX_DESCRIBE_JOBS = 100


def default_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def require(request: JsonDict, *keys: str) -> None:
    for key in keys:
        if request.get(key) in (None, ""):
            raise ClientException(f"{key} is required")


def paginate(items: list[Any], request: JsonDict, limit: int) -> tuple[list[Any], str | None]:
    """Opaque-token pagination over a list that is stable between calls."""
    token = request.get("nextToken")
    try:
        start = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
    except ValueError as exc:
        raise ClientException("Invalid nextToken") from exc
    size = int(request.get("maxResults") or limit)
    if size < 1:
        raise ClientException("maxResults must be at least 1")
    page = items[start : start + size]
    end = start + size
    next_token = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return page, next_token


class LocalBatch:
    """An in-memory AWS Batch.

    ``executor`` runs containers (``ProcessExecutor``/``DockerExecutor``);
    ``on_event`` receives each ``Batch Job State Change`` event (it is called from
    the scheduler with the service lock held: hand it to a queue, e.g.
    ``EventRouter.put``). ``extra_environment`` is added to every container's
    environment, after the server's own ``AWS_*`` variables. ``submit_faults`` makes a
    share of SubmitJob calls fail as AWS sometimes does (``faults``; tests only).
    ``chaos`` (``overlord_local.chaos``) holds SubmitJob's answer after the job has
    started, so that its events (an array child's end included) come before it.
    """

    def __init__(
        self,
        executor: Executor,
        *,
        on_event: EventSink | None = None,
        region: str | None = None,
        account: str = DEFAULT_ACCOUNT,
        timings: Timings | None = None,
        extra_environment: Mapping[str, str] | None = None,
        submit_faults: SubmitFaults | None = None,
        chaos: Chaos | None = None,
    ) -> None:
        self.arns = ArnFactory(region or default_region(), account)
        self._faults = submit_faults
        self._chaos = chaos.stream("localbatch") if chaos is not None else None
        self._lock = threading.RLock()
        # Notified at every status change (chaos: an answer waits for a child's end).
        self._moved = threading.Condition(self._lock)
        self._registry = Registry(self.arns)
        self._jobs: dict[str, Job] = {}
        self._on_event = on_event
        self._scheduler = Scheduler(
            self._registry,
            self._lock,
            executor,
            self._emit,
            self.arns,
            timings=timings,
            extra_environment=extra_environment,
        )

    @property
    def region(self) -> str:
        return self.arns.region

    def shutdown(self) -> None:
        self._scheduler.shutdown()

    def _emit(self, job: Job) -> None:
        """Called by the scheduler with the lock held, at every status change."""
        if self._on_event is not None:
            self._on_event(state_change_event(job.describe(), self.arns.region, self.arns.account))
        if self._chaos is not None:
            self._moved.notify_all()

    def _hold_answer(self, job: Job) -> None:
        """Chaos: SubmitJob's answer waits, the job running meanwhile. An array's waits
        until one of its children has ended and its events had time to be delivered (the
        recorder then sees a child end before the submitter has recorded the parent); a
        plain job's waits a random while, or not at all."""
        assert self._chaos is not None
        chaos = self._chaos.chaos
        if job.array is None:
            delay = self._chaos.answer_delay()
        else:
            started = time.monotonic()
            summary = job.array.summary  # kept by the scheduler under the lock
            with self._moved:
                self._moved.wait_for(
                    lambda: summary["SUCCEEDED"] + summary["FAILED"] > 0, chaos.array_answer_wait
                )
            waited = time.monotonic() - started
            delay = min(chaos.max_delay, max(0.0, chaos.array_answer_wait - waited))
        if delay:
            log.info("chaos: SubmitJob's answer for %s held %.2f s more", job.batch_job_id, delay)
            time.sleep(delay)

    # -- compute environments --------------------------------------------------------
    def create_compute_environment(self, request: JsonDict) -> JsonDict:
        require(request, "computeEnvironmentName", "type")
        with self._lock:
            ce = self._registry.add_compute_environment(request)
        return {"computeEnvironmentName": ce.name, "computeEnvironmentArn": ce.arn}

    def describe_compute_environments(self, request: JsonDict) -> JsonDict:
        with self._lock:
            wanted = request.get("computeEnvironments")
            if wanted:
                found = [
                    self._registry.compute_environments[resource_name(r)]
                    for r in wanted
                    if resource_name(r) in self._registry.compute_environments
                ]
            else:
                found = list(self._registry.compute_environments.values())
            page, token = paginate([ce.describe() for ce in found], request, 100)
        return {"computeEnvironments": page, **({"nextToken": token} if token else {})}

    def update_compute_environment(self, request: JsonDict) -> JsonDict:
        require(request, "computeEnvironment")
        with self._lock:
            ce = self._registry.compute_environment(request["computeEnvironment"])
            if "state" in request:
                ce.body["state"] = request["state"]
            for key, value in (request.get("computeResources") or {}).items():
                ce.body.setdefault("computeResources", {})[key] = value
        self._scheduler.capacity_changed()
        return {"computeEnvironmentName": ce.name, "computeEnvironmentArn": ce.arn}

    # -- job queues ------------------------------------------------------------------
    def create_job_queue(self, request: JsonDict) -> JsonDict:
        require(request, "jobQueueName", "priority")
        with self._lock:
            queue = self._registry.add_job_queue(request)
        return {"jobQueueName": queue.name, "jobQueueArn": queue.arn}

    def describe_job_queues(self, request: JsonDict) -> JsonDict:
        with self._lock:
            wanted = request.get("jobQueues")
            queues = self._registry.job_queues
            if wanted:
                found = [queues[resource_name(r)] for r in wanted if resource_name(r) in queues]
            else:
                found = list(queues.values())
            page, token = paginate([q.describe() for q in found], request, 100)
        return {"jobQueues": page, **({"nextToken": token} if token else {})}

    def update_job_queue(self, request: JsonDict) -> JsonDict:
        require(request, "jobQueue")
        with self._lock:
            queue = self._registry.job_queue(request["jobQueue"])
            for key in ("state", "priority", "computeEnvironmentOrder"):
                if key in request:
                    queue.body[key] = copy.deepcopy(request[key])
        self._scheduler.capacity_changed()
        return {"jobQueueName": queue.name, "jobQueueArn": queue.arn}

    # -- job definitions ---------------------------------------------------------------
    def register_job_definition(self, request: JsonDict) -> JsonDict:
        require(request, "jobDefinitionName", "type")
        check_timeout(request.get("timeout"))
        check_tags(request.get("tags"))
        if request["type"] != "container" or "containerProperties" not in request:
            raise ClientException(
                "The local Batch supports container job definitions with containerProperties"
            )
        with self._lock:
            definition = self._registry.register_job_definition(request)
        return {
            "jobDefinitionName": definition.name,
            "jobDefinitionArn": definition.arn,
            "revision": definition.revision,
        }

    def describe_job_definitions(self, request: JsonDict) -> JsonDict:
        with self._lock:
            found = self._registry.all_job_definitions()
            if request.get("jobDefinitions"):
                refs = [split_revision(r) for r in request["jobDefinitions"]]
                found = [
                    d
                    for d in found
                    if any(d.name == n and (rev is None or d.revision == rev) for n, rev in refs)
                ]
            if request.get("jobDefinitionName"):
                found = [d for d in found if d.name == request["jobDefinitionName"]]
            if request.get("status"):
                found = [d for d in found if d.status == request["status"]]
            page, token = paginate([d.describe() for d in found], request, 100)
        return {"jobDefinitions": page, **({"nextToken": token} if token else {})}

    def deregister_job_definition(self, request: JsonDict) -> JsonDict:
        require(request, "jobDefinition")
        with self._lock:
            self._registry.job_definition(request["jobDefinition"]).status = "INACTIVE"
        return {}

    # -- jobs ------------------------------------------------------------------------
    def submit_job(self, request: JsonDict, *, body_size: int | None = None) -> JsonDict:
        """SubmitJob. ``body_size``: the HTTP body's length in bytes (else the request's
        compact JSON is measured), for AWS's 30 KiB limit (``limits``)."""
        fault = self._faults.draw() if self._faults is not None else None
        if fault == THROTTLE:
            log.info("SubmitJob %s: injected throttle", request.get("jobName"))
            raise TooManyRequestsException("Too Many Requests")
        if fault == SERVER_ERROR:
            log.info("SubmitJob %s: injected 500 before creating", request.get("jobName"))
            raise ServerException("Internal server error (injected fault)")
        if body_size is None:
            body_size = len(json.dumps(request, separators=(",", ":")).encode())
        check_submit_size(body_size)
        require(request, "jobName", "jobQueue", "jobDefinition")
        check_job_name(request["jobName"])
        check_tags(request.get("tags"))
        check_timeout(request.get("timeout"))
        array_size = check_array(request.get("arrayProperties"))
        with self._lock:
            queue = self._registry.job_queue(request["jobQueue"])
            definition = self._registry.job_definition(request["jobDefinition"])
            if definition.status != "ACTIVE":
                raise ClientException(f"Job definition {definition.arn} is INACTIVE")
            batch_job_id = str(uuid.uuid4())
            body = definition.body
            tags = dict(request.get("tags") or {})
            propagate = bool(request.get("propagateTags", body.get("propagateTags", False)))
            job = Job(
                batch_job_id=batch_job_id,
                arn=self.arns.job(batch_job_id),
                name=request["jobName"],
                queue=queue,
                definition=definition,
                container=build_container(definition, request.get("containerOverrides")),
                retry_strategy=copy.deepcopy(
                    request.get("retryStrategy") or body.get("retryStrategy") or {}
                ),
                timeout=copy.deepcopy(request.get("timeout") or body.get("timeout")),
                tags=tags,
                parameters={**(body.get("parameters") or {}), **(request.get("parameters") or {})},
                depends_on=copy.deepcopy(request.get("dependsOn") or []),
                propagate_tags=propagate,
                platform_capabilities=list(body.get("platformCapabilities") or []),
                container_overrides=copy.deepcopy(request.get("containerOverrides") or {}),
            )
            job.retry_strategy.setdefault("attempts", 1)
            job.retry_strategy.setdefault("evaluateOnExit", [])
            self._jobs[batch_job_id] = job
            if array_size is not None:
                for child in job.make_children(array_size, self.arns.job):
                    self._jobs[child.batch_job_id] = child
        self._scheduler.submit(job)
        log.info(
            "submitted job %s (%s) to %s%s",
            batch_job_id,
            job.name,
            queue.name,
            f" with {array_size} array children" if array_size else "",
        )
        if self._chaos is not None:
            self._hold_answer(job)
        if fault == SERVER_ERROR_AFTER_CREATE:
            log.info("SubmitJob %s: injected 500 after creating job %s", job.name, batch_job_id)
            raise ServerException("Internal server error (injected fault)")
        return {"jobArn": job.arn, "jobName": job.name, "jobId": batch_job_id}

    def describe_jobs(self, request: JsonDict) -> JsonDict:
        require(request, "jobs")
        ids = request["jobs"]
        if len(ids) > MAX_DESCRIBE_JOBS:
            raise ClientException(
                f"Exceeded the maximum of {MAX_DESCRIBE_JOBS} job IDs in a DescribeJobs request"
            )
        with self._lock:
            jobs = [self._jobs.get(resource_name(i)) for i in ids]
            return {"jobs": [j.describe() for j in jobs if j is not None]}

    def list_jobs(self, request: JsonDict) -> JsonDict:
        """ListJobs of a queue (array parents, not their children) or, with
        ``arrayJobId``, of an array's children in index order (``filters`` do not apply
        to children, as AWS documents; ``jobStatus`` does)."""
        given = [key for key in ("jobQueue", "arrayJobId", "multiNodeJobId") if request.get(key)]
        if len(given) != 1:
            raise ClientException(
                "Specify exactly one of jobQueue, arrayJobId or multiNodeJobId"
                + (f", not {' and '.join(given)}" if given else "")
            )
        if given == ["multiNodeJobId"]:
            raise ClientException("The local Batch does not run multi-node parallel jobs")
        status = request.get("jobStatus") or "RUNNING"
        if status not in STATUSES:
            raise ClientException(f"Invalid jobStatus {status}")
        filters = request.get("filters") or []
        with self._lock:
            if request.get("arrayJobId"):
                parent = self._jobs.get(request["arrayJobId"])
                if parent is None or parent.array is None:
                    raise ClientException(f"Array job {request['arrayJobId']} does not exist")
                children = [j for j in parent.array.children if j.status == status]
                found, token = paginate(children, request, 100)
                page = [j.summarize() for j in found]
                return {"jobSummaryList": page, **({"nextToken": token} if token else {})}
            queue = self._registry.job_queue(request["jobQueue"])
            jobs = [j for j in self._jobs.values() if j.queue is queue and j.parent is None]
            if filters:
                for item in filters:
                    jobs = [j for j in jobs if self._filter_match(j, item)]
            else:
                jobs = [j for j in jobs if j.status == status]
            jobs.sort(key=lambda j: j.created_at, reverse=True)
            found, token = paginate(jobs, request, 100)
            page = [j.summarize() for j in found]
        return {"jobSummaryList": page, **({"nextToken": token} if token else {})}

    @staticmethod
    def _filter_match(job: Job, item: JsonDict) -> bool:
        name, values = item.get("name"), item.get("values") or []
        if name == "JOB_NAME":
            return any(fnmatch.fnmatchcase(job.name, v) for v in values)
        if name == "JOB_DEFINITION":
            return any(
                fnmatch.fnmatchcase(job.definition.arn, v)
                or fnmatch.fnmatchcase(f"{job.definition.name}:{job.definition.revision}", v)
                or fnmatch.fnmatchcase(job.definition.name, v)
                for v in values
            )
        if name == "BEFORE_CREATED_AT":
            return all(job.created_at < int(v) for v in values)
        if name == "AFTER_CREATED_AT":
            return all(job.created_at > int(v) for v in values)
        raise ClientException(f"Unsupported ListJobs filter {name}")

    def _job(self, request: JsonDict) -> Job:
        require(request, "jobId", "reason")
        with self._lock:
            job = self._jobs.get(request["jobId"])
        if job is None:
            raise ClientException(f"Job {request['jobId']} does not exist")
        return job

    def cancel_job(self, request: JsonDict) -> JsonDict:
        self._scheduler.cancel(self._job(request), request["reason"])
        return {}

    def terminate_job(self, request: JsonDict) -> JsonDict:
        self._scheduler.terminate(self._job(request), request["reason"])
        return {}

    # -- tags --------------------------------------------------------------------
    def _tags_of(self, arn: str) -> dict[str, str]:
        kind = arn.split(":", 5)[-1].split("/", 1)[0] if arn.startswith("arn:") else ""
        name = resource_name(arn)
        if kind == "job" and name in self._jobs:
            return self._jobs[name].tags
        if kind == "job-queue" and name in self._registry.job_queues:
            return self._registry.job_queues[name].body.setdefault("tags", {})
        if kind == "compute-environment" and name in self._registry.compute_environments:
            return self._registry.compute_environments[name].body.setdefault("tags", {})
        if kind == "job-definition":
            return self._registry.job_definition(arn).body.setdefault("tags", {})
        raise ClientException(f"Resource {arn} does not exist")

    def tag_resource(self, arn: str, request: JsonDict) -> JsonDict:
        with self._lock:
            tags = self._tags_of(arn)
            added = request.get("tags") or {}
            if len({**tags, **added}) > MAX_TAGS:
                check_tags({**tags, **added})
            tags.update(added)
        return {}

    def untag_resource(self, arn: str, keys: list[str]) -> JsonDict:
        with self._lock:
            tags = self._tags_of(arn)
            for key in keys:
                tags.pop(key, None)
        return {}

    def list_tags_for_resource(self, arn: str) -> JsonDict:
        with self._lock:
            return {"tags": dict(self._tags_of(arn))}
