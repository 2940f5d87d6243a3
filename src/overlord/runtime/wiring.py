"""Wiring: the one place that builds the real adapters from the environment.

Built once per process on first use and reused across warm Lambda invocations; the
store's indexes are ensured then, once. Tests that change the environment call `reset()`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta

from overlord.adapters import aws, mongo_client
from overlord.adapters.batch import BatchGateway
from overlord.adapters.cloudwatch_logs import LogReader
from overlord.adapters.config import Settings
from overlord.adapters.mongo_store import MongoStore
from overlord.adapters.ratelimit import TokenBucket
from overlord.adapters.s3 import ObjectStore
from overlord.services.submit import SubmitConfig
from overlord_contracts import catalogue
from overlord_contracts.catalogue import Catalogue


@dataclass(frozen=True)
class Components:
    settings: Settings
    catalogue: Catalogue
    store: MongoStore
    batch: BatchGateway
    objects: ObjectStore
    log_streams: LogReader

    @property
    def submit_config(self) -> SubmitConfig:
        return SubmitConfig(
            job_queue=self.settings.job_queue,
            catalogue=self.catalogue,
            job_definition_prefix=self.settings.job_definition_prefix,
            overrides_budget=self.settings.container_overrides_budget,
            image_tasks=self.settings.image_tasks,
            deployed_images=self.settings.task_images,
            deployment=self.settings.deployment,
            definition_tag_count=self.settings.definition_tag_count,
            list_delay=timedelta(seconds=self.settings.batch_list_delay_seconds),
        )


@functools.cache
def components() -> Components:
    settings = Settings.from_env()
    # First, so that a bad catalogue file fails the start with its path and field.
    tasks = catalogue.catalogue(settings.tasks_dir)
    store = MongoStore(mongo_client.database(settings))
    store.ensure_indexes()
    return Components(
        settings=settings,
        catalogue=tasks,
        store=store,
        batch=BatchGateway(
            settings.job_queue,
            pace=TokenBucket(
                settings.submit_rate_per_second, burst=settings.submit_rate_per_second
            ),
            max_wait_seconds=settings.submit_max_wait_seconds,
        ),
        objects=ObjectStore(settings.results_bucket),
        log_streams=LogReader(settings.log_group),
    )


def reset() -> None:
    """Forget the built components and close their clients (environment changed, or exit)."""
    components.cache_clear()
    aws.reset_clients()
    mongo_client.close_clients()
