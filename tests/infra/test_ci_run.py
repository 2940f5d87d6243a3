""".ci/run and .ci/system-packages.sh, run for real in a copy of .ci/ with stub make,
docker, dockerd, apt-get and the rest on a PATH of their own: which stages run, in which
order and with what, how a failure or a signal ends the run, and that what the run
started (dockerd, the compose stack) is stopped on every way out."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CI = ROOT / ".ci"

# What .ci/run does, in this order (the GitHub docker job runs it too).
STAGES = [
    "packages",
    "engine",
    "setup",
    "base-images",
    "images",
    "test",
    "bench",
    "up",
    "smoke",
    "e2e",
    "down",
]
# The system commands the scripts use; nothing else of the machine is on their PATH, so
# a dockerd, debootstrap or chromium installed here cannot answer for a stub.
SYSTEM = (
    "bash", "sh", "cat", "date", "dirname", "mkdir", "mktemp", "rm", "seq", "sleep", "tail",
    "touch",
)  # fmt: skip

# Each stub appends one line to $STUB_LOG.
STUBS = {
    # make TARGET...: fails with CODE for STUB_FAIL=TARGET:CODE; STUB_SLOW=TARGET marks
    # its start ($STUB_LOG.slow) and takes two seconds.
    "make": r"""#!/bin/sh
target=""
for a in "$@"; do
  case "$a" in -*|*=*) ;; *) target=$a; break ;; esac
done
echo "make $* | net=${DOCKER_BUILD_NETWORK:-} require_docker=${OVERLORD_REQUIRE_DOCKER:-}" \
  >> "$STUB_LOG"
if [ "$target" = "${STUB_SLOW:-}" ]; then touch "$STUB_LOG.slow"; sleep 2; fi
case "${STUB_FAIL:-}" in "$target":*) exit "${STUB_FAIL#*:}" ;; esac
exit 0
""",
    # docker info answers once the engine ($STUB_ENGINE) is up; ps/ls print $STUB_LEFT.
    "docker": r"""#!/bin/sh
case "$1" in
  info) [ -e "$STUB_ENGINE" ] || { sleep 0.2; [ -e "$STUB_ENGINE" ]; } ;;
  version) echo 27.0 ;;
  *) echo "docker $*" >> "$STUB_LOG"; [ -z "${STUB_LEFT:-}" ] || echo "$STUB_LEFT" ;;
esac
""",
    # Runs until TERM, as dockerd does; says when it is stopped.
    "dockerd": r"""#!/bin/sh
echo "dockerd $*" >> "$STUB_LOG"
trap 'echo "dockerd stopped" >> "$STUB_LOG"; rm -f "$STUB_ENGINE"; exit 0' TERM
touch "$STUB_ENGINE"
while :; do sleep 0.1; done
""",
    "apt-get": """#!/bin/sh\necho "apt-get $*" >> "$STUB_LOG"\n""",
    "id": """#!/bin/sh\necho "${STUB_UID:-0}"\n""",
    "go": "#!/bin/sh\nexit 0\n",
    "python3": "#!/bin/sh\nexit 0\n",
}
# In the copy of the repository: the stage commands that are not make.
REPO_STUBS = {
    "local/base-images/build.sh": """#!/bin/sh\necho "base-images $*" >> "$STUB_LOG"\n""",
    ".venv/bin/python": (
        "#!/bin/sh\n"
        'echo "python $* | api=$OVERLORD_E2E_API_URL" >> "$STUB_LOG"\n'
        'case "${STUB_FAIL:-}" in e2e:*) exit "${STUB_FAIL#*:}" ;; esac\n'
    ),
}


def _executable(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)


@dataclass
class Machine:
    """A copy of .ci/ beside stub stage commands, and a PATH of stubs and SYSTEM only."""

    repo: Path
    bin: Path
    log: Path
    engine: Path
    tmp: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            "PATH": str(self.bin),
            "HOME": str(self.tmp),
            "TMPDIR": str(self.tmp),
            "STUB_LOG": str(self.log),
            "STUB_ENGINE": str(self.engine),
            "SYSTEM_PACKAGES_SBIN": str(self.tmp / "sbin"),  # nothing there
        }
        return env | extra

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def commands(self) -> list[str]:
        """Each logged call without what the stub noted after `|`."""
        return [c.split(" | ")[0] for c in self.calls()]

    def add(self, *commands: str) -> None:
        for command in commands:
            _executable(self.bin / command, "#!/bin/sh\nexit 0\n")

    def remove(self, command: str) -> None:
        (self.bin / command).unlink()

    def ci_run(self, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(self.repo / ".ci" / "run")],
            env=self.env(**extra),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def system_packages(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.repo / ".ci" / "system-packages.sh"), *args],
            env=self.env(**extra),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )


@pytest.fixture
def machine(tmp_path: Path) -> Iterator[Machine]:
    repo = tmp_path / "repo"
    for script in ("run", "system-packages.sh"):
        (repo / ".ci").mkdir(parents=True, exist_ok=True)
        shutil.copy(CI / script, repo / ".ci" / script)
    for path, text in REPO_STUBS.items():
        _executable(repo / path, text)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in SYSTEM:
        found = shutil.which(name)
        assert found, f"{name} is not on this machine"
        (bin_dir / name).symlink_to(found)
    for name, text in STUBS.items():
        _executable(bin_dir / name, text)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    yield Machine(repo, bin_dir, tmp_path / "calls.log", tmp_path / "engine", tmp)
    # A .ci/run that failed to stop its dockerd (what these tests look for) leaves the stub
    # looping; it must not outlive the test, nor be taken for a real engine by anyone.
    subprocess.run(["pkill", "-f", str(bin_dir / "dockerd")], check=False)


def headers(stdout: str) -> list[str]:
    """The stages in the order they began (`==== NAME: COMMAND`)."""
    return re.findall(r"^==== ([\w-]+): (?!\d+s)", stdout, flags=re.MULTILINE)


def summary(stdout: str) -> dict[str, str]:
    """The stage-times table at the end: stage → what follows its name."""
    table = stdout.split("==== stage times\n")[-1]
    return dict(re.findall(r"^  ([\w-]+) +(.+)$", table, flags=re.MULTILINE))


# ------------------------------------------------------------------------- .ci/run


def test_every_stage_runs_in_order_and_dockerd_is_stopped(machine: Machine) -> None:
    machine.add("debootstrap", "chromium")
    result = machine.ci_run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert headers(result.stdout) == STAGES
    dockerd, *commands = machine.commands()
    # started without touching the host's firewall, its pid file in the run's state
    assert dockerd.startswith("dockerd --iptables=false --ip-masq=false --pidfile ")
    e2e = "python -m pytest -m e2e tests/e2e -ra -p no:cacheprovider"
    main = ["make --no-print-directory test", "make --no-print-directory bench BENCH_ARGS=--quick"]
    side = ["make --no-print-directory up", "make --no-print-directory smoke", e2e]
    assert commands[:3] == [
        "make --no-print-directory setup",
        "base-images --auto",
        "make --no-print-directory images",
    ]
    # The stack's up, smoke and e2e run beside test and bench, each side in its order.
    beside = commands[3:8]
    assert sorted(beside) == sorted(main + side)
    assert [c for c in beside if c in main] == main
    assert [c for c in beside if c in side] == side
    assert commands[8:] == [
        "make --no-print-directory down",
        # then what is left of the stack is looked for (nothing here, by the stub)
        *commands[-5:-1],
        "dockerd stopped",
    ]
    project = "--filter label=com.docker.compose.project=overlord"
    assert [c for c in commands[-5:-1] if project in c] == [
        f"docker ps -aq {project}",
        f"docker network ls -q {project}",
        f"docker volume ls -q {project}",
    ]
    noted = dict(c.split(" | ") for c in machine.calls() if " | " in c)
    # Builds reach the package indexes on the host network; docker-marked tests must run.
    assert noted["make --no-print-directory images"] == "net=host require_docker=1"
    assert noted["make --no-print-directory test"] == "net=host require_docker=1"
    # The e2e suite is pointed at the compose stack's gateway.
    assert noted[e2e] == "api=http://localhost:8080"
    times = summary(result.stdout)
    assert list(times) == [*STAGES, "total"]
    for stage, took in times.items():
        # the stack's stages: how long they were waited for, and how long they ran
        note = r"  \(ran \d+s beside test and bench\)" if stage in ("up", "smoke", "e2e") else ""
        assert re.fullmatch(rf"\d+s{note}", took.strip()), times
    assert list(machine.tmp.iterdir()) == []  # its state folder is removed


def test_a_failing_stage_ends_the_run_with_its_status(machine: Machine) -> None:
    machine.add("debootstrap", "chromium")
    result = machine.ci_run(STUB_FAIL="test:3")
    assert result.returncode == 3
    assert headers(result.stdout) == STAGES[: STAGES.index("test") + 1]
    commands = machine.commands()
    assert "make --no-print-directory test" in commands
    assert not [c for c in commands if "bench" in c]
    # the stack, started beside the tests, is stopped and taken down
    assert commands[-3:] == [
        "make --no-print-directory logs LOGS_FLAGS=--no-color --tail=100",
        "make --no-print-directory down",
        "dockerd stopped",
    ]
    times = summary(result.stdout)
    assert list(times) == [*STAGES[: STAGES.index("test") + 1], "total"]
    assert times["test"].endswith("FAILED (3)")


def test_a_failure_once_the_stack_is_up_shows_its_logs_and_takes_it_down(
    machine: Machine,
) -> None:
    machine.add("debootstrap", "chromium")
    result = machine.ci_run(STUB_FAIL="smoke:2")
    assert result.returncode == 2
    commands = machine.commands()
    assert not [c for c in commands if "-m e2e" in c]  # the stack side stopped at smoke
    assert commands[-3:] == [
        "make --no-print-directory logs LOGS_FLAGS=--no-color --tail=100",
        "make --no-print-directory down",
        "dockerd stopped",
    ]
    assert summary(result.stdout)["smoke"].endswith("FAILED (2)")
    assert "==== e2e" not in result.stdout


def terminated_in(machine: Machine, target: str) -> subprocess.Popen[str]:
    """.ci/run, sent SIGTERM once the stub `make TARGET` has begun (STUB_SLOW)."""
    run = subprocess.Popen(
        ["bash", str(machine.repo / ".ci" / "run")],
        env=machine.env(STUB_SLOW=target),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    slow = Path(f"{machine.log}.slow")
    deadline = time.monotonic() + 30
    while not slow.exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert slow.exists(), f"make {target} never began"
    run.send_signal(signal.SIGTERM)
    return run


def test_a_signal_still_stops_what_the_run_started(machine: Machine) -> None:
    machine.add("debootstrap", "chromium")
    run = terminated_in(machine, "test")
    stdout, _ = run.communicate(timeout=30)
    assert run.returncode == 130
    assert not [c for c in machine.commands() if "bench" in c]
    assert machine.commands()[-1] == "dockerd stopped"
    assert summary(stdout)["test"].endswith("FAILED (130)")


def test_a_signal_stops_the_stack_side_too(machine: Machine) -> None:
    """up, smoke and e2e run in the background: a signal ends them with the run (their
    process group), and the stack is taken down."""
    machine.add("debootstrap", "chromium")
    run = terminated_in(machine, "up")
    run.communicate(timeout=30)
    assert run.returncode == 130
    time.sleep(3)  # longer than the stub's make up: had it lived on, smoke would follow
    commands = machine.commands()
    assert "make --no-print-directory smoke" not in commands
    assert commands[-2:] == ["make --no-print-directory down", "dockerd stopped"]


def test_an_engine_that_answers_is_used_and_left_running(machine: Machine) -> None:
    machine.add("debootstrap", "chromium")
    machine.remove("dockerd")
    machine.engine.touch()
    result = machine.ci_run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "a Docker engine answers: 27.0" in result.stdout
    assert not [c for c in machine.commands() if c.startswith("dockerd")]
    assert "stopping dockerd" not in result.stdout


def test_down_fails_when_anything_of_the_stack_is_left(machine: Machine) -> None:
    machine.add("debootstrap", "chromium")
    result = machine.ci_run(STUB_LEFT="3f2a1c")
    assert result.returncode == 1
    assert "left behind after make down" in result.stderr
    assert summary(result.stdout)["down"].endswith("FAILED (1)")
    assert machine.commands()[-1] == "dockerd stopped"


def test_no_go_no_run(machine: Machine) -> None:
    machine.remove("go")
    result = machine.ci_run()
    assert result.returncode == 1
    assert "CI needs Go" in result.stderr
    assert machine.calls() == []


# ------------------------------------------------------------ .ci/system-packages.sh


def test_a_new_machine_gets_docker_debootstrap_and_chromium(machine: Machine) -> None:
    machine.remove("dockerd")
    result = machine.system_packages()
    assert result.returncode == 0, result.stderr
    assert machine.calls() == [
        "apt-get update -qq",
        "apt-get install -y -qq --no-install-recommends docker.io debootstrap chromium",
    ]


def test_an_engine_that_answers_needs_no_docker_package(machine: Machine) -> None:
    machine.remove("dockerd")
    machine.engine.touch()
    assert machine.system_packages().returncode == 0
    assert machine.calls()[-1].endswith("--no-install-recommends debootstrap chromium")


def test_commands_in_sbin_count_as_installed(machine: Machine) -> None:
    machine.remove("dockerd")
    for command in ("dockerd", "debootstrap", "chromium"):
        _executable(machine.tmp / "sbin" / command, "#!/bin/sh\n")
    result = machine.system_packages()
    assert result.returncode == 0
    assert result.stdout.strip() == "system packages: all present"
    assert machine.calls() == []


def test_installing_needs_root(machine: Machine) -> None:
    result = machine.system_packages(STUB_UID="1000")
    assert result.returncode == 1
    assert "sudo apt-get install debootstrap chromium" in result.stderr
    assert machine.calls() == []


def test_the_list_names_each_package_by_its_command() -> None:
    listed = subprocess.run(
        [str(CI / "system-packages.sh"), "--list"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert listed == ["dockerd docker.io", "debootstrap debootstrap", "chromium chromium"]


def test_the_scripts_are_executable() -> None:
    for script in ("run", "system-packages.sh"):
        assert os.access(CI / script, os.X_OK), script


def test_leftover_containers_are_looked_for_by_the_local_batchs_label() -> None:
    """The `down` stage finds containers the local Batch left by the label it sets."""
    from overlord_local.localbatch.executors.docker_executor import LABEL

    filters = re.findall(r"--filter label=([\w.-]+)", (CI / "run").read_text())
    assert f"{LABEL}.job-id" in filters, filters
