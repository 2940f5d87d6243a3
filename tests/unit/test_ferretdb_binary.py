import pytest

from overlord.devstack import ferretdb


def test_no_mongodb_names_the_three_fixes(monkeypatch, tmp_path):
    monkeypatch.delenv("FERRETDB_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no go, no ferretdb
    monkeypatch.setattr(ferretdb, "TOOLS_BIN", tmp_path / "bin")
    with pytest.raises(ferretdb.MongoUnavailable) as caught:
        ferretdb.ferretdb_binary()
    message = str(caught.value)
    assert "MONGODB_URI" in message and "Go" in message and "FERRETDB_BIN" in message


def test_ferretdb_bin_is_used_when_set(monkeypatch, tmp_path):
    binary = tmp_path / "ferretdb"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv("FERRETDB_BIN", str(binary))
    assert ferretdb.ferretdb_binary(build=False) == binary
