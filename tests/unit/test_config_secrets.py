"""Settings hold the MongoDB URI (with its password); printing them must not show it."""

from __future__ import annotations

import pytest

from overlord.adapters.config import Settings


def test_settings_repr_leaves_out_the_mongodb_uri():
    settings = Settings.from_env({"MONGODB_URI": "mongodb://u:hunter2-secret@db:27017/"})
    assert settings.mongodb_uri == "mongodb://u:hunter2-secret@db:27017/"
    assert "hunter2-secret" not in repr(settings)
    assert "hunter2-secret" not in str(settings)


def test_task_images_are_the_image_tasks_a_deployment_has_images_for():
    assert Settings.from_env({}).task_images is None
    assert Settings.from_env({"TASK_IMAGES": "[]"}).task_images == frozenset()
    both = Settings.from_env({"TASK_IMAGES": '["wordcount", "other"]'}).task_images
    assert both == frozenset({"wordcount", "other"})
    with pytest.raises(ValueError, match=r"^TASK_IMAGES: "):
        Settings.from_env({"TASK_IMAGES": "wordcount"})
