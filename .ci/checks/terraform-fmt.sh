#!/usr/bin/env bash
# terraform fmt -check over terraform/, when a terraform binary is available
# (PATH or .tools/bin); otherwise says it was skipped and succeeds.
set -euo pipefail
cd "$(dirname "$0")/../.."

TF="$(command -v terraform || true)"
if [ -z "$TF" ] && [ -x .tools/bin/terraform ]; then TF=.tools/bin/terraform; fi
if [ -z "$TF" ]; then
  echo "terraform fmt: skipped (no terraform binary on PATH or in .tools/bin)"
  exit 0
fi

# A TF_CLI_CONFIG_FILE naming a missing file only makes every call print a warning.
if [ -n "${TF_CLI_CONFIG_FILE:-}" ] && [ ! -e "$TF_CLI_CONFIG_FILE" ]; then
  unset TF_CLI_CONFIG_FILE
fi

"$TF" fmt -check -recursive -diff terraform
echo "terraform fmt: ok ($("$TF" version | head -1))"
