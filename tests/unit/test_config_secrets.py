"""Settings hold the MongoDB URI (with its password); printing them must not show it."""

from __future__ import annotations

from overlord.adapters.config import Settings


def test_settings_repr_leaves_out_the_mongodb_uri():
    settings = Settings.from_env({"MONGODB_URI": "mongodb://u:hunter2-secret@db:27017/"})
    assert settings.mongodb_uri == "mongodb://u:hunter2-secret@db:27017/"
    assert "hunter2-secret" not in repr(settings)
    assert "hunter2-secret" not in str(settings)
