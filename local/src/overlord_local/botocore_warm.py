"""One botocore data loader for every job the fork server forks (a ``preload`` entry).

A worker's first boto3 client makes a new botocore session, whose new ``Loader`` lists
the data directories and parses the service's JSON models, endpoint rule set and
partitions: ~60 ms of an array child's ~140 ms of CPU on ``make dev``, the same in
every child. Imported by the fork server, this module makes ``create_loader`` return
one ``Loader`` per search path (``AWS_DATA_PATH``), warmed with the S3 client the
worker makes; each forked child gets it, already filled, copy-on-write.

Nothing of the environment is shared: a ``Loader`` holds only what it read from
botocore's data files, which the search path (the cache key) names; sessions,
credentials, regions and endpoints are still made per job from the job's environment.
It is what one botocore session does for its second client. Only the fork server
imports this; nothing on AWS does.
"""

from __future__ import annotations

import threading
from typing import Any

import botocore.loaders
import botocore.session

_original = botocore.loaders.create_loader
_loaders: dict[str | None, Any] = {}
_lock = threading.Lock()


def shared_loader(search_path_string: str | None = None) -> Any:
    """``botocore.loaders.create_loader``, one ``Loader`` per search path."""
    with _lock:
        loader = _loaders.get(search_path_string)
        if loader is None:
            loader = _loaders[search_path_string] = _original(search_path_string)
        return loader


def warm(services: tuple[str, ...] = ("s3",)) -> None:
    """Fill the default search path's loader: a throw-away client per service, made with
    made-up credentials and region (nothing is sent)."""
    session = botocore.session.Session()
    for service in services:
        session.create_client(
            service,
            region_name="us-east-1",
            aws_access_key_id="warm",
            aws_secret_access_key="warm",  # noqa: S106 - not a secret: no call is made
        )


# botocore.session imported the name: both places, so that every new session uses it.
botocore.loaders.create_loader = shared_loader
botocore.session.create_loader = shared_loader
warm()  # on import: the fork server's preload imports, it calls nothing
