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


# ------------------------------------------------------- rebuilt when the sources change


@pytest.fixture
def folder_tool(tmp_path, monkeypatch):
    """A folder tool whose build.sh writes a binary (counting its builds), a `go` on
    PATH (ensure builds only where Go is), and an empty tools directory."""
    source = tmp_path / "tool"
    (source / "patches").mkdir(parents=True)
    for name in ("main.go", "go.mod", "go.sum"):
        (source / name).write_text(f"{name}\n")
    (source / "patches" / "0001-fix.patch").write_text("v1\n")
    builds = tmp_path / "builds"
    build = source / "build.sh"
    build.write_text(
        f'#!/bin/sh\necho built >> "{builds}"\nprintf "#!/bin/sh\\n" > "$1"\nchmod +x "$1"\n'
    )
    build.chmod(0o755)
    bin_dir = tmp_path / "path"
    bin_dir.mkdir()
    go = bin_dir / "go"
    go.write_text("#!/bin/sh\nexit 0\n")
    go.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("OVERLORD_TOOLS_BIN", str(tmp_path / "bin"))
    monkeypatch.delenv("TOOL_BIN", raising=False)
    tool = gotools.GoTool("tool", "TOOL_BIN", str(source))  # absolute: outside the project
    return tool, source, lambda: len(builds.read_text().splitlines()) if builds.exists() else 0


def test_a_tool_is_built_once_and_reused_while_its_sources_stay(folder_tool):
    tool, _, builds = folder_tool
    path = gotools.ensure(tool)
    assert path == gotools.tools_bin() / "tool" and builds() == 1
    assert gotools.ensure(tool) == path and builds() == 1


@pytest.mark.parametrize("changed", ["patches/0001-fix.patch", "patches/0002-new.patch", "go.mod"])
def test_a_changed_patch_or_version_rebuilds_the_tool(folder_tool, changed):
    tool, source, builds = folder_tool
    gotools.ensure(tool)
    (source / changed).write_text("something else\n")
    assert gotools.find(tool) is None  # the binary there is stale
    gotools.ensure(tool)
    assert builds() == 2
    assert gotools.find(tool) == gotools.tools_bin() / "tool"


def test_a_binary_without_a_stamp_is_rebuilt(folder_tool):
    tool, _, builds = folder_tool
    old = gotools.tools_bin() / "tool"
    old.parent.mkdir(parents=True)
    old.write_text("#!/bin/sh\n")
    old.chmod(0o755)  # e.g. built before stamps existed, without our patch
    assert gotools.find(tool) is None
    gotools.ensure(tool)
    assert builds() == 1


def test_without_go_a_stale_binary_stands_in_with_a_warning(folder_tool, monkeypatch, capsys):
    tool, source, builds = folder_tool
    gotools.ensure(tool)
    (source / "main.go").write_text("changed\n")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    if gotools.shutil.which("go"):
        pytest.skip("a go in /usr/bin")
    assert gotools.ensure(tool) == gotools.tools_bin() / "tool"
    assert builds() == 1
    assert "not built from" in capsys.readouterr().err


def test_a_failed_build_leaves_no_stamp(folder_tool):
    tool, source, _ = folder_tool
    (source / "build.sh").write_text("#!/bin/sh\necho 'does not apply' >&2\nexit 1\n")
    with pytest.raises(gotools.subprocess.CalledProcessError):
        gotools.ensure(tool)
    assert not gotools.stamp(tool, gotools.tools_bin()).exists()
