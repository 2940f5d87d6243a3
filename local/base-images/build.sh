#!/usr/bin/env bash
# Base images without a container registry: stand-ins for the upstream images the
# stack and the example image tasks are built on, made from Debian's archive
# (debootstrap, apt) and PyPI, for machines that cannot pull from Docker Hub /
# public.ecr.aws / gcr.io (air-gapped or behind a proxy that only lets package
# indexes through). `make base-images` runs it.
#
#   upstream (the default everywhere)          stand-in built here
#   python:3.12.x-slim-bookworm                overlord-base/python      Debian trixie minbase, python3.13
#   public.ecr.aws/lambda/python:3.12.x        overlord-base/lambda-python  + awslambdaric, aws-lambda-rie
#   mongo:7.0.x                                overlord-base/mongo-ferretdb FerretDB (local/ferretdb), mongosh ping
#   localstack/localstack:4.14.0               overlord-base/localstack  localstack-core[runtime] from a lock
#   golang:1.22.x-bookworm                     overlord-base/golang      + Debian's golang-go (Go 1.24)
#   gcr.io/distroless/static-debian12:nonroot  overlord-base/static      scratch + CA certificates, nonroot user
#
# Nothing is ever tagged with an upstream name: the Dockerfiles and compose.yaml take
# the base images from variables (PYTHON_IMAGE, LAMBDA_PYTHON_IMAGE, MONGO_IMAGE,
# LOCALSTACK_IMAGE, GOLANG_IMAGE, DISTROLESS_STATIC_IMAGE) whose defaults are the
# upstream names; this script writes the stand-ins' names to $BASE_IMAGES_ENV
# (default .tools/base-images.env), which mk/docker.mk reads.
# `rm .tools/base-images.env` goes back to the upstream images.
#
# Tags carry a hash of their inputs (Dockerfile, lock, Go sources, CA certificates,
# the image below), so an image that already exists is reused and a changed input
# builds a new one.
#
#   local/base-images/build.sh          build all the stand-ins, write the env file
#   local/base-images/build.sh --auto   per image: the upstream one when it is present
#                                          or can be pulled, else the stand-in
#
# Needs: root (debootstrap), docker, go, sha256sum. Environment:
#   OVERLORD_EXTRA_CA_CERTS  PEM file of extra CA certificates for the images; when
#                            unset, the first of PIP_CERT, SSL_CERT_FILE,
#                            REQUESTS_CA_BUNDLE naming a file (a proxy's CA bundle)
#   DEBIAN_MIRROR            default http://deb.debian.org/debian
#   DOCKER_BUILD_NETWORK     network for the RUN steps of these builds (default host:
#                            pip must reach PyPI even where bridge networking has no NAT)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/local/base-images
ENV_FILE=${BASE_IMAGES_ENV:-$ROOT/.tools/base-images.env}
BIN_DIR=$ROOT/.tools/base-images/bin
SUITE=trixie
PACKAGES=python3,python3-venv,python3-pip,python-is-python3,ca-certificates,curl
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
NETWORK=${DOCKER_BUILD_NETWORK:-host}
MODE=all

case "${1:-}" in
  "") ;;
  --auto) MODE=auto ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [--auto]" >&2; exit 2 ;;
esac

START=$(date +%s)
log() { printf '[base-images +%ss] %s\n' "$(( $(date +%s) - START ))" "$*" >&2; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }
inputs_hash() { cat "$@" | sha256sum | cut -c1-12; }

# The upstream defaults, read from compose.yaml's ${VAR:-default} (one place).
upstream() {
  local found
  found=$(grep -o "\${$1:-[^}]*}" "$ROOT/compose.yaml" | head -n1 | sed "s/^\${$1:-//; s/}\$//")
  [ -n "$found" ] || { log "no \${$1:-…} default in compose.yaml"; exit 1; }
  printf '%s\n' "$found"
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/overlord-base-images.XXXXXX")
ROOTFS=$WORK/rootfs
cleanup() {
  # debootstrap mounts proc and sys inside the target; never delete through a mount
  if [ -d "$ROOTFS" ]; then
    for mount in $(awk -v r="$ROOTFS" 'index($2, r) == 1 {print $2}' /proc/mounts | sort -r); do
      umount -l "$mount" 2>/dev/null || true
    done
  fi
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

# ---- extra CA certificates (from the host's environment)
CA_FILE=$WORK/extra-ca-certificates.crt
: >"$CA_FILE"
for candidate in "${OVERLORD_EXTRA_CA_CERTS:-}" "${PIP_CERT:-}" "${SSL_CERT_FILE:-}" "${REQUESTS_CA_BUNDLE:-}"; do
  if [ -n "$candidate" ] && [ -f "$candidate" ]; then
    cp "$candidate" "$CA_FILE"
    log "extra CA certificates: $candidate"
    break
  fi
done

# docker build in a fresh context holding only the given files
build_image() {  # build_image TAG DOCKERFILE_DIR FILE... -- BUILD_ARG...
  local tag=$1 dir=$2 ctx
  shift 2
  ctx=$(mktemp -d "$WORK/ctx.XXXXXX")
  cp "$dir/Dockerfile" "$ctx/"
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do cp "$1" "$ctx/"; shift; done
  [ $# -gt 0 ] && shift
  local args=()
  for arg in "$@"; do args+=(--build-arg "$arg"); done
  log "building $tag"
  DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0} docker build --quiet --network "$NETWORK" \
    "${args[@]}" -t "$tag" "$ctx" >/dev/null
}

go_tool() {  # go_tool NAME: a static binary in $BIN_DIR
  mkdir -p "$BIN_DIR"
  case "$1" in
    ferretdb)
      log "building ferretdb (CGO_ENABLED=0, with local/ferretdb/patches)"
      CGO_ENABLED=0 "$ROOT/local/ferretdb/build.sh" "$BIN_DIR/ferretdb" ;;
    aws-lambda-rie)
      log "building aws-lambda-rie (CGO_ENABLED=0)"
      CGO_ENABLED=0 GOBIN=$BIN_DIR go install "$RIE_SOURCE" ;;
  esac
}

# The emulator version the project pins (gotools.py: RIE_MODULE, RIE_VERSION).
gotools=$ROOT/local/src/overlord_local/devstack/gotools.py
rie_module=$(sed -n 's/^RIE_MODULE = "\(.*\)"/\1/p' "$gotools")
rie_version=$(sed -n 's/^RIE_VERSION = "\([^"]*\)".*/\1/p' "$gotools")
[ -n "$rie_module" ] && [ -n "$rie_version" ] || { log "no RIE_MODULE/RIE_VERSION in $gotools"; exit 1; }
RIE_SOURCE="$rie_module@$rie_version"

# ---- tags: a hash of each image's inputs (and of the image below it)
printf '%s\n' "$SUITE $PACKAGES" >"$WORK/rootfs.inputs"
ROOTFS_TAG=overlord-base/rootfs:$SUITE-$(inputs_hash "$WORK/rootfs.inputs")
PYTHON_TAG=overlord-base/python:3-$SUITE-$(
  printf '%s\n' "$ROOTFS_TAG" | cat - "$HERE/python/Dockerfile" "$CA_FILE" | inputs_hash -)
LAMBDA_TAG=overlord-base/lambda-python:3-$SUITE-$(printf '%s\n' "$PYTHON_TAG" "$RIE_SOURCE" \
  | cat - "$HERE"/lambda/Dockerfile "$HERE"/lambda/requirements.lock "$HERE"/lambda/lambda-entrypoint.sh \
  | inputs_hash -)
MONGO_TAG=overlord-base/mongo-ferretdb:1-$(printf '%s\n' "$PYTHON_TAG" \
  | cat - "$HERE"/mongo/Dockerfile "$HERE"/mongo/mongosh "$ROOT"/local/ferretdb/go.mod \
    "$ROOT"/local/ferretdb/go.sum "$ROOT"/local/ferretdb/main.go "$ROOT"/local/ferretdb/build.sh \
    "$ROOT"/local/ferretdb/patches/*.patch | inputs_hash -)
GOLANG_TAG=overlord-base/golang:1.24-$SUITE-$(printf '%s\n' "$PYTHON_TAG" \
  | cat - "$HERE"/golang/Dockerfile | inputs_hash -)
STATIC_TAG=overlord-base/static:$SUITE-$(printf '%s\n' "$PYTHON_TAG" \
  | cat - "$HERE"/static/Dockerfile | inputs_hash -)
localstack_version=$(sed -n 's/^localstack-core==\([^ ]*\).*/\1/p' "$HERE/localstack/requirements.lock")
LOCALSTACK_TAG=overlord-base/localstack:$localstack_version-$(printf '%s\n' "$PYTHON_TAG" \
  | cat - "$HERE"/localstack/Dockerfile "$HERE"/localstack/requirements.lock | inputs_hash -)

# ---- overlord-base/python: debootstrap + docker import, then CA certificates
python_base() {
  if have_image "$ROOTFS_TAG"; then
    log "$ROOTFS_TAG exists"
  elif ! have_image "$PYTHON_TAG"; then
    log "debootstrap $SUITE (minbase + $PACKAGES) from $MIRROR"
    debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" \
      >"$WORK/debootstrap.log" 2>&1 || { tail -n 30 "$WORK/debootstrap.log" >&2; exit 1; }
    rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* \
      "$ROOTFS"/usr/share/doc "$ROOTFS"/usr/share/man "$ROOTFS"/usr/share/info
    log "docker import $ROOTFS_TAG"
    tar --numeric-owner -C "$ROOTFS" --exclude='./proc/*' --exclude='./sys/*' --exclude='./dev/*' -c . \
      | docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' - "$ROOTFS_TAG" >/dev/null
    rm -rf --one-file-system "$ROOTFS"
  fi
  if have_image "$PYTHON_TAG"; then
    log "$PYTHON_TAG exists"
  else
    build_image "$PYTHON_TAG" "$HERE/python" "$CA_FILE" -- "ROOTFS_IMAGE=$ROOTFS_TAG"
  fi
}

# the upstream image when --auto and it is here or can be pulled
usable_upstream() {
  local image=$1
  [ "$MODE" = auto ] || return 1
  if have_image "$image"; then
    log "$image is present"
    return 0
  fi
  if docker pull --quiet "$image" >/dev/null 2>&1; then
    log "$image pulled"
    return 0
  fi
  log "$image cannot be pulled: building a stand-in"
  return 1
}

VARIABLES=(PYTHON_IMAGE LAMBDA_PYTHON_IMAGE MONGO_IMAGE LOCALSTACK_IMAGE GOLANG_IMAGE
  DISTROLESS_STATIC_IMAGE)
declare -A chosen=()
declare -A stand_in=(
  [PYTHON_IMAGE]=$PYTHON_TAG [LAMBDA_PYTHON_IMAGE]=$LAMBDA_TAG
  [MONGO_IMAGE]=$MONGO_TAG [LOCALSTACK_IMAGE]=$LOCALSTACK_TAG
  [GOLANG_IMAGE]=$GOLANG_TAG [DISTROLESS_STATIC_IMAGE]=$STATIC_TAG
)
for var in "${VARIABLES[@]}"; do
  chosen[$var]=""
  usable_upstream "$(upstream "$var")" || chosen[$var]=${stand_in[$var]}
done
missing() { [ -n "${chosen[$1]}" ] && ! have_image "${chosen[$1]}"; }

# The Go builds (CPU) run while debootstrap downloads (network).
go_pids=()
if missing LAMBDA_PYTHON_IMAGE; then go_tool aws-lambda-rie & go_pids+=($!); fi
if missing MONGO_IMAGE; then go_tool ferretdb & go_pids+=($!); fi
needs_python=""
for var in "${VARIABLES[@]}"; do
  if missing "$var"; then needs_python=1; fi  # every stand-in builds on the Python one
done
if [ -n "$needs_python" ]; then
  python_base
fi
for pid in "${go_pids[@]}"; do
  wait "$pid" || { log "a Go build failed"; exit 1; }
done

if missing LAMBDA_PYTHON_IMAGE; then
  build_image "$LAMBDA_TAG" "$HERE/lambda" "$HERE/lambda/requirements.lock" \
    "$HERE/lambda/lambda-entrypoint.sh" "$BIN_DIR/aws-lambda-rie" -- "PYTHON_IMAGE=$PYTHON_TAG"
fi
if missing MONGO_IMAGE; then
  build_image "$MONGO_TAG" "$HERE/mongo" "$HERE/mongo/mongosh" "$BIN_DIR/ferretdb" -- \
    "PYTHON_IMAGE=$PYTHON_TAG"
fi
if missing LOCALSTACK_IMAGE; then
  build_image "$LOCALSTACK_TAG" "$HERE/localstack" "$HERE/localstack/requirements.lock" -- \
    "PYTHON_IMAGE=$PYTHON_TAG"
fi
if missing GOLANG_IMAGE; then
  build_image "$GOLANG_TAG" "$HERE/golang" -- "PYTHON_IMAGE=$PYTHON_TAG"
fi
if missing DISTROLESS_STATIC_IMAGE; then
  build_image "$STATIC_TAG" "$HERE/static" -- "PYTHON_IMAGE=$PYTHON_TAG"
fi

mkdir -p "$(dirname "$ENV_FILE")"
{
  echo "# written by local/base-images/build.sh; read by mk/docker.mk. Delete to use the upstream images."
  for var in "${VARIABLES[@]}"; do
    if [ -n "${chosen[$var]}" ]; then echo "$var=${chosen[$var]}"; fi
  done
} >"$ENV_FILE.tmp"
mv "$ENV_FILE.tmp" "$ENV_FILE"
log "done; $ENV_FILE:"
grep -v '^#' "$ENV_FILE" >&2 || log "(all upstream)"
