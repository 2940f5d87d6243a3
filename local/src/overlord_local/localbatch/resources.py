"""Compute environments, job queues and job definitions: the static side of Batch.

The registry only stores and looks things up; it knows nothing of jobs or HTTP.
All callers hold the registry's lock (``LocalBatch`` does) — it has none of its own.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from overlord_local.localbatch.arns import ArnFactory, resource_name, split_revision
from overlord_local.localbatch.errors import ClientException

JsonDict = dict[str, Any]


@dataclass
class ComputeEnvironment:
    name: str
    arn: str
    body: JsonDict
    used_vcpus: float = 0.0

    @property
    def max_vcpus(self) -> float | None:
        """The CE's capacity; ``None`` means unbounded (unmanaged CE without a limit)."""
        resources = self.body.get("computeResources") or {}
        if "maxvCpus" in resources:
            return float(resources["maxvCpus"])
        if self.body.get("type") == "UNMANAGED" and self.body.get("unmanagedvCpus"):
            return float(self.body["unmanagedvCpus"])
        return None

    @property
    def enabled(self) -> bool:
        return self.body.get("state", "ENABLED") == "ENABLED"

    def fits(self, vcpus: float) -> bool:
        limit = self.max_vcpus
        return self.enabled and (limit is None or self.used_vcpus + vcpus <= limit + 1e-9)

    def describe(self) -> JsonDict:
        return {
            **copy.deepcopy(self.body),
            "computeEnvironmentName": self.name,
            "computeEnvironmentArn": self.arn,
            "ecsClusterArn": f"arn:aws:ecs:local:cluster/{self.name}",
            "state": self.body.get("state", "ENABLED"),
            "status": "VALID",
            "statusReason": "ComputeEnvironment Healthy",
            "tags": dict(self.body.get("tags") or {}),
        }


@dataclass
class JobQueue:
    name: str
    arn: str
    body: JsonDict

    @property
    def enabled(self) -> bool:
        return self.body.get("state", "ENABLED") == "ENABLED"

    def compute_environment_refs(self) -> list[str]:
        order = sorted(self.body.get("computeEnvironmentOrder") or [], key=lambda o: o["order"])
        return [o["computeEnvironment"] for o in order]

    def describe(self) -> JsonDict:
        return {
            **copy.deepcopy(self.body),
            "jobQueueName": self.name,
            "jobQueueArn": self.arn,
            "state": self.body.get("state", "ENABLED"),
            "status": "VALID",
            "statusReason": "JobQueue Healthy",
            "computeEnvironmentOrder": copy.deepcopy(self.body.get("computeEnvironmentOrder", [])),
            "tags": dict(self.body.get("tags") or {}),
        }


@dataclass
class JobDefinition:
    name: str
    revision: int
    arn: str
    body: JsonDict
    status: str = "ACTIVE"

    def describe(self) -> JsonDict:
        return {
            **copy.deepcopy(self.body),
            "jobDefinitionName": self.name,
            "jobDefinitionArn": self.arn,
            "revision": self.revision,
            "status": self.status,
            "containerOrchestrationType": "ECS",
            "tags": dict(self.body.get("tags") or {}),
        }


@dataclass
class Registry:
    arns: ArnFactory
    compute_environments: dict[str, ComputeEnvironment] = field(default_factory=dict)
    job_queues: dict[str, JobQueue] = field(default_factory=dict)
    job_definitions: dict[str, list[JobDefinition]] = field(default_factory=dict)

    # -- compute environments -------------------------------------------------
    def add_compute_environment(self, body: JsonDict) -> ComputeEnvironment:
        name = body["computeEnvironmentName"]
        if name in self.compute_environments:
            raise ClientException(f"Object already exists: {name}")
        ce = ComputeEnvironment(name, self.arns.compute_environment(name), copy.deepcopy(body))
        self.compute_environments[name] = ce
        return ce

    def compute_environment(self, reference: str) -> ComputeEnvironment:
        ce = self.compute_environments.get(resource_name(reference))
        if ce is None:
            raise ClientException(f"Compute environment {reference} does not exist")
        return ce

    # -- job queues -------------------------------------------------------------
    def add_job_queue(self, body: JsonDict) -> JobQueue:
        name = body["jobQueueName"]
        if name in self.job_queues:
            raise ClientException(f"Object already exists: {name}")
        for ref in [o["computeEnvironment"] for o in body.get("computeEnvironmentOrder") or []]:
            self.compute_environment(ref)
        queue = JobQueue(name, self.arns.job_queue(name), copy.deepcopy(body))
        self.job_queues[name] = queue
        return queue

    def job_queue(self, reference: str) -> JobQueue:
        queue = self.job_queues.get(resource_name(reference))
        if queue is None:
            raise ClientException(f"Job Queue {reference} does not exist")
        return queue

    def compute_environments_of(self, queue: JobQueue) -> list[ComputeEnvironment]:
        return [self.compute_environment(ref) for ref in queue.compute_environment_refs()]

    # -- job definitions --------------------------------------------------------
    def register_job_definition(self, body: JsonDict) -> JobDefinition:
        name = body["jobDefinitionName"]
        revisions = self.job_definitions.setdefault(name, [])
        revision = len(revisions) + 1
        definition = JobDefinition(
            name, revision, self.arns.job_definition(name, revision), copy.deepcopy(body)
        )
        revisions.append(definition)
        return definition

    def job_definition(self, reference: str) -> JobDefinition:
        """Resolve ``name`` (latest ACTIVE revision), ``name:rev`` or an ARN."""
        name, revision = split_revision(reference)
        revisions = self.job_definitions.get(name, [])
        if revision is not None:
            if 1 <= revision <= len(revisions):
                return revisions[revision - 1]
        else:
            active = [d for d in revisions if d.status == "ACTIVE"]
            if active:
                return active[-1]
        raise ClientException(f"Job definition {reference} does not exist")

    def all_job_definitions(self) -> list[JobDefinition]:
        return [d for revisions in self.job_definitions.values() for d in revisions]
