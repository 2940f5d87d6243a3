import pytest

from overlord_local.devstack import ferretdb, gotools


@pytest.fixture
def nothing_installed(monkeypatch, tmp_path):
    monkeypatch.delenv("FERRETDB_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no go, no ferretdb
    monkeypatch.setenv("OVERLORD_TOOLS_BIN", str(tmp_path / "bin"))


def test_no_mongodb_names_the_three_fixes(nothing_installed):
    with pytest.raises(ferretdb.MongoUnavailable) as caught:
        ferretdb.ferretdb_binary()
    message = str(caught.value)
    assert "MONGODB_URI" in message and "Go" in message and "FERRETDB_BIN" in message


def test_missing_emulator_says_what_was_searched(nothing_installed):
    with pytest.raises(gotools.ToolMissing, match=r"aws-lambda-rie not found .*Go is not"):
        gotools.ensure(gotools.RIE)


def test_the_environment_variable_wins(monkeypatch, tmp_path):
    binary = tmp_path / "ferretdb"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv("FERRETDB_BIN", str(binary))
    assert ferretdb.ferretdb_binary() == binary
