#!/usr/bin/env bash
# Build our FerretDB: main.go against the FerretDB release in go.mod, with patches/*.patch
# applied to a vendored copy of the module.
#
#   local/ferretdb/build.sh OUT        (gotools.py and local/base-images call it)
#
# Needs Go and git (`git apply`, used as a plain patch tool: no repository involved);
# the modules come from the module cache or the Go module proxy. A patch that does not
# apply stops the build: the release changed under it, and the patch must be redone.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUT}
case "$out" in /*) ;; *) out=$PWD/$out ;; esac

work=$(mktemp -d "${TMPDIR:-/tmp}/overlord-ferretdb.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$here/main.go" "$here/go.mod" "$here/go.sum" "$work/"
cd "$work"

go mod vendor
module=vendor/github.com/FerretDB/FerretDB
[ -d "$module" ] || { echo "build.sh: $module missing after go mod vendor" >&2; exit 1; }
chmod -R u+w vendor

# Outside any repository (the ceiling stops git's search), so `git apply` patches these
# files rather than paths of a repository above, and says which file failed.
export GIT_CEILING_DIRECTORIES=$(dirname "$work")
for patch in "$here"/patches/*.patch; do
  [ -e "$patch" ] || continue
  echo "applying $(basename "$patch")" >&2
  if ! git apply --directory="$module" --verbose "$patch"; then
    echo "build.sh: $patch does not apply to $(sed -n 's/^require github.com\/FerretDB\/FerretDB //p' go.mod)" >&2
    exit 1
  fi
done

# -trimpath: the build cache then serves the vendored packages across build directories
go build -mod=vendor -trimpath -o "$out.tmp.$$" .
mv -f "$out.tmp.$$" "$out"
