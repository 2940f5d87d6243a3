"""ARNs shaped like AWS Batch's, and parsing of the references callers pass."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_ACCOUNT = "123456789012"


@dataclass(frozen=True)
class ArnFactory:
    """Builds ``arn:aws:batch:<region>:<account>:<kind>/<name>`` strings."""

    region: str
    account: str = DEFAULT_ACCOUNT

    @property
    def prefix(self) -> str:
        return f"arn:aws:batch:{self.region}:{self.account}:"

    def compute_environment(self, name: str) -> str:
        return f"{self.prefix}compute-environment/{name}"

    def job_queue(self, name: str) -> str:
        return f"{self.prefix}job-queue/{name}"

    def job_definition(self, name: str, revision: int) -> str:
        return f"{self.prefix}job-definition/{name}:{revision}"

    def job(self, batch_job_id: str) -> str:
        return f"{self.prefix}job/{batch_job_id}"


def resource_name(reference: str) -> str:
    """The resource part of an ARN (``name`` or ``name:rev``), or the reference itself."""
    if reference.startswith("arn:"):
        return reference.split(":", 5)[-1].split("/", 1)[-1]
    return reference


def split_revision(reference: str) -> tuple[str, int | None]:
    """``name`` → (name, None); ``name:3`` or a job-definition ARN → (name, 3)."""
    name = resource_name(reference)
    head, sep, tail = name.rpartition(":")
    if sep and tail.isdigit():
        return head, int(tail)
    return name, None
