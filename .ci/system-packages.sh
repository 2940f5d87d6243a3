#!/usr/bin/env bash
# The Debian packages CI needs and a brand-new machine lacks, installed when missing
# (root, apt). One list, read by .ci/run and the README:
#
#   docker.io     the Docker engine (dockerd, containerd, runc): make up, the images,
#                 the docker-marked tests; only when no engine answers already
#   debootstrap   the base-image stand-ins (local/base-images/build.sh) when the
#                 upstream images cannot be pulled
#   chromium      the console's browser tests (tests/console, Playwright drives it)
#
#   .ci/system-packages.sh            install what is missing
#   .ci/system-packages.sh --list     print "command package" pairs
set -euo pipefail

# Where root's commands lie when PATH lacks them (a shell without sbin on its PATH);
# tests/infra/test_ci_run.py points it at a folder of its own.
SBIN=${SYSTEM_PACKAGES_SBIN:-/usr/sbin}

# command to look for → package that brings it
PACKAGES=(
  "dockerd docker.io"
  "debootstrap debootstrap"
  "chromium chromium"
)

if [ "${1:-}" = --list ]; then
  printf '%s\n' "${PACKAGES[@]}"
  exit 0
fi

missing=()
for pair in "${PACKAGES[@]}"; do
  read -r command package <<<"$pair"
  if [ "$command" = dockerd ] && docker info >/dev/null 2>&1; then
    continue  # an engine answers (a CI service, Docker Desktop): nothing to install
  fi
  command -v "$command" >/dev/null 2>&1 || [ -x "$SBIN/$command" ] || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
echo "system packages: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "installing needs root: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "system packages: installed ${missing[*]}"
