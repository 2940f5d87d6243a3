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

Likewise each new session registered botocore's ~140 built-in event handlers one by one,
each name matched against every alias (~16 ms of a child's ~100 ms). A new session
whose event emitter is still empty now gets a copy of one emitter that has them,
registered once here: what botocore gives every client of a session (a copy of its
emitter). The handlers are botocore's module-level ones, shared by every session
anyway.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

import botocore.hooks
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


# botocore's private names: typed Any (its version is pinned by uv.lock, and
# tests/localbatch/test_forkserver.py checks the handlers a copied session has).
_Session: Any = botocore.session.Session
_register_builtin_handlers = _Session._register_builtin_handlers
_builtin_emitter: Any = None


def _nothing_registered(emitter: Any) -> bool:
    return not emitter._handlers._root["children"]


def copied_builtin_handlers(session: Any, events: Any) -> None:
    """``Session._register_builtin_handlers``, as a copy of one emitter that has them."""
    fresh: Any = session._original_handler
    if (
        _builtin_emitter is None
        or type(fresh) is not botocore.hooks.HierarchicalEmitter
        or not _nothing_registered(fresh)
        or events is not session._events
    ):
        _register_builtin_handlers(session, events)
        return
    session._original_handler = copy.copy(_builtin_emitter)
    session._events = botocore.hooks.EventAliaser(session._original_handler)


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
_builtin_emitter = _Session()._original_handler
_Session._register_builtin_handlers = copied_builtin_handlers
warm()  # on import: the fork server's preload imports, it calls nothing
