"""Settings hold the MongoDB URI (with its password); printing them must not show it."""

from __future__ import annotations

import pytest

from overlord.adapters.config import Settings


def test_settings_repr_leaves_out_the_mongodb_uri():
    settings = Settings.from_env({"MONGODB_URI": "mongodb://u:hunter2-secret@db:27017/"})
    assert settings.mongodb_uri == "mongodb://u:hunter2-secret@db:27017/"
    assert "hunter2-secret" not in repr(settings)
    assert "hunter2-secret" not in str(settings)


def test_the_connection_budget_settings_come_from_the_environment():
    settings = Settings.from_env(
        {
            "MONGODB_MAX_POOL_SIZE": "2",
            "MONGODB_MAX_IDLE_TIME_MS": "1000",
            "MONGODB_CONNECT_TIMEOUT_MS": "300",
            "MONGODB_SERVER_SELECTION_TIMEOUT_MS": "400",
        }
    )
    assert (
        settings.mongodb_max_pool_size,
        settings.mongodb_max_idle_time_ms,
        settings.mongodb_connect_timeout_ms,
        settings.mongodb_server_selection_timeout_ms,
    ) == (2, 1000, 300, 400)


def test_a_bad_pool_size_names_the_variable():
    import pytest

    with pytest.raises(ValueError, match="MONGODB_MAX_POOL_SIZE: expected a whole number"):
        Settings.from_env({"MONGODB_MAX_POOL_SIZE": "two"})
    with pytest.raises(ValueError, match="MONGODB_MAX_POOL_SIZE: expected a number >= 1"):
        Settings.from_env({"MONGODB_MAX_POOL_SIZE": "0"})


def test_the_client_gets_the_budget_unless_the_uri_says_otherwise():
    from overlord.adapters.mongo_client import client_options

    settings = Settings(mongodb_max_pool_size=2)
    options = client_options("mongodb://db/?serverSelectionTimeoutMS=200", settings)
    assert options["maxPoolSize"] == 2 and options["maxIdleTimeMS"] == 60_000
    assert "serverSelectionTimeoutMS" not in options  # the URI's 200 stands
    assert client_options("mongodb+srv://c.example.net/", settings)["serverSelectionTimeoutMS"]


def test_task_images_are_the_image_tasks_a_deployment_has_images_for():
    assert Settings.from_env({}).task_images is None
    assert Settings.from_env({"TASK_IMAGES": "[]"}).task_images == frozenset()
    both = Settings.from_env({"TASK_IMAGES": '["wordcount", "other"]'}).task_images
    assert both == frozenset({"wordcount", "other"})
    with pytest.raises(ValueError, match=r"^TASK_IMAGES: "):
        Settings.from_env({"TASK_IMAGES": "wordcount"})
