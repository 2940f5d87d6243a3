#!/usr/bin/env bash
# Rehearse CI on a brand-new machine: remove what .ci/run installs or caches on this one,
# then run `CI=true bash .ci/run` on a fresh clone of this checkout's HEAD.
#
# A green CI on a machine where someone installed a package by hand proves nothing about
# a new one (a missing debootstrap hid that way once). Run this before relying on a change
# to .ci/run, .ci/system-packages.sh, the base images or the Go tools.
#
#   .ci/rehearse-fresh-machine.sh            say what would be removed, remove nothing
#   .ci/rehearse-fresh-machine.sh --yes      remove it, then run CI on a fresh clone
#
# It removes (root; this machine's state, not the checkout's):
#   - Debian packages: docker.io containerd runc debootstrap chromium (apt-get purge), and the
#     engine's state /var/lib/docker /var/lib/containerd (images, build cache)
#   - the Go build and module caches (go env GOCACHE GOMODCACHE)
#   - uv's, pip's and the CI's mypy caches (~/.cache/uv, ~/.cache/pip, ~/.cache/overlord)
#   - the clone's .tools/ and .venv/ do not exist yet: the clone is fresh
# A running dockerd is stopped first. The log goes to $REHEARSAL_LOG
# (default /tmp/overlord-rehearsal.log); the stage times are printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
SOURCE=$(pwd)
LOG=${REHEARSAL_LOG:-/tmp/overlord-rehearsal.log}
PACKAGES=(docker.io containerd runc debootstrap chromium chromium-common)
STATE_DIRS=(/var/lib/docker /var/lib/containerd)
CACHES=("$(go env GOCACHE)" "$(go env GOMODCACHE)" "$HOME/.cache/uv" "$HOME/.cache/pip" "$HOME/.cache/overlord")

echo "rehearsal of a brand-new machine; it removes:"
printf '  package  %s\n' "${PACKAGES[@]}"
printf '  state    %s\n' "${STATE_DIRS[@]}"
printf '  cache    %s\n' "${CACHES[@]}"
if [ "${1:-}" != --yes ]; then
  echo "(nothing removed: run with --yes)"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "needs root (apt-get purge)" >&2; exit 1; }

if pgrep -x dockerd >/dev/null; then
  echo "stopping dockerd"
  pkill -x dockerd || true
  for _ in $(seq 60); do pgrep -x dockerd >/dev/null || break; sleep 1; done
  pkill -9 -x dockerd 2>/dev/null || true
  pkill -x containerd 2>/dev/null || true
fi
# mounts left by the engine (overlay layers, netns) would keep rm from removing its state
awk '$2 ~ "^/var/lib/(docker|containerd)" {print $2}' /proc/mounts | sort -r \
  | xargs -r -n1 umount -l 2>/dev/null || true
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${PACKAGES[@]}" >/dev/null 2>&1 || true
DEBIAN_FRONTEND=noninteractive apt-get autoremove -y -qq >/dev/null 2>&1 || true
rm -rf "${STATE_DIRS[@]}"
go clean -cache -modcache 2>/dev/null || true
rm -rf "${CACHES[@]}"
for command in dockerd debootstrap containerd runc chromium; do
  if command -v "$command" >/dev/null 2>&1; then
    echo "still installed after the purge: $command ($(command -v "$command"))" >&2
    exit 1
  fi
done
echo "removed; this machine is as new as it can be made"

CLONE=$(mktemp -d "${TMPDIR:-/tmp}/overlord-rehearsal.XXXXXX")
git clone --quiet "$SOURCE" "$CLONE"
echo "fresh clone of $(git -C "$CLONE" rev-parse --short HEAD) in $CLONE; CI=true bash .ci/run > $LOG"
start=$(date +%s)
set +e
(cd "$CLONE" && CI=true bash .ci/run </dev/null) >"$LOG" 2>&1
rc=$?
set -e
echo "CI after the rehearsal: exit $rc in $(( $(date +%s) - start )) s (load: $(cut -d' ' -f1-3 /proc/loadavg))"
sed -n '/^==== stage times/,$p' "$LOG"
[ $rc -eq 0 ] && rm -rf "$CLONE"
exit $rc
