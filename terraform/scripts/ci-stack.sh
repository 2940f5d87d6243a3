#!/usr/bin/env bash
# A throw-away deployment for the e2e suite (.github/workflows/deploy.yml runs these
# steps in order; tests/infra/test_ci_stack_script.py runs them against stubs):
#
#   prepare  terraform/envs/$ENV as a copy of envs/dev, with a terraform.tfvars for a
#            cheap, disposable stack (no NAT, no endpoints, force-delete ECR and bucket)
#   deploy   terraform/scripts/deploy.sh, then the MongoDB URI into the stack's secret
#   verify   wait until GET /health answers 200, then the e2e suite against the API
#            (signed with the caller's credentials; tests that need the local stack's
#            processes or clock skip themselves)
#   destroy  terraform destroy (run it always, even after a failed step)
#
# Reads: ENV (must start with "ci-"), AWS_REGION, MONGODB_URI (a MongoDB the Lambdas can
# reach; never printed), optional E2E_ARGS (more pytest arguments) and
# OVERLORD_E2E_WAIT_SCALE (job waits are multiplied by it; Fargate starts take minutes).
set -euo pipefail
cd "$(dirname "$0")/../.."

ENV="${ENV:-}"
case "$ENV" in
  ci-*) ;;
  *)
    echo "ci-stack: ENV must start with ci- (got '$ENV'): this script deletes what it deploys" >&2
    exit 2
    ;;
esac
TF_DIR="terraform/envs/$ENV"
# One database per stack: runs sharing a MongoDB do not see each other's jobs.
DB_NAME="overlord_${ENV//-/_}"
tf() { terraform -chdir="$TF_DIR" "$@"; }

prepare() {
  : "${AWS_REGION:?set AWS_REGION}"
  mkdir -p "$TF_DIR"
  # The module's own files only: not a developer's state, tfvars or .terraform.
  cp terraform/envs/dev/*.tf "$TF_DIR"/
  local azs
  azs="$(aws ec2 describe-availability-zones --region "$AWS_REGION" \
    --filters Name=state,Values=available --query 'AvailabilityZones[0:2].ZoneName' --output json)"
  cat >"$TF_DIR/terraform.tfvars" <<EOF
# Written by terraform/scripts/ci-stack.sh prepare: a disposable e2e stack.
region      = "$AWS_REGION"
azs         = $(tr -d ' \n' <<<"$azs")
environment = "$ENV"
db_name     = "$DB_NAME"

create_nat_gateway   = false
enable_vpc_endpoints = false
lambdas_in_vpc       = false
batch_max_vcpus      = 4

results_bucket_force_destroy = true
ecr_force_delete             = true
log_retention_days           = 1

tags = {
  Purpose = "overlord-e2e"
}
EOF
  echo "ci-stack: $TF_DIR prepared"
}

deploy() {
  : "${MONGODB_URI:?set MONGODB_URI}"
  ENV="$ENV" TF_APPLY_ARGS="-auto-approve" terraform/scripts/deploy.sh
  # From the environment through stdin's file: never on a command line or in the log.
  local uri_file
  uri_file="$(mktemp)"
  trap 'rm -f "$uri_file"' RETURN
  printf '%s' "$MONGODB_URI" >"$uri_file"
  aws secretsmanager put-secret-value --region "$AWS_REGION" \
    --secret-id "$(tf output -raw mongodb_secret_arn)" \
    --secret-string "file://$uri_file" >/dev/null
  echo "ci-stack: MongoDB URI stored in the stack's secret"
}

verify() {
  : "${MONGODB_URI:?set MONGODB_URI}"
  local url bucket
  url="$(tf output -raw api_url)"
  bucket="$(tf output -raw results_bucket)"
  # The submitter reads the secret per cold start until it has a value (503 till then).
  .venv/bin/python - "$url" <<'EOF'
import sys
import time

import botocore.session

from overlord_local.client import ApiClient, region_for

url = sys.argv[1]
client = ApiClient(url, botocore.session.Session().get_credentials(), region_for(url))
deadline = time.monotonic() + 300
while True:
    response = client.get("/health")
    if response.status == 200:
        print(f"ci-stack: {url} is healthy")
        break
    if time.monotonic() > deadline:
        sys.exit(f"ci-stack: /health still {response.status} after 300 s: {response.body}")
    time.sleep(5)
EOF
  read -r -a extra <<<"${E2E_ARGS:-}"
  OVERLORD_E2E_API_URL="$url" OVERLORD_E2E_DEPLOYED=1 DB_NAME="$DB_NAME" RESULTS_BUCKET="$bucket" \
    OVERLORD_E2E_WAIT_SCALE="${OVERLORD_E2E_WAIT_SCALE:-6}" \
    .venv/bin/python -m pytest -m e2e tests/e2e -ra -p no:cacheprovider ${extra[@]+"${extra[@]}"}
}

destroy() {
  if [ ! -d "$TF_DIR" ]; then
    echo "ci-stack: nothing to destroy ($TF_DIR does not exist)"
    return
  fi
  tf init -input=false >/dev/null
  # image_tag only exists once deploy.sh pushed; destroy needs some value either way.
  local tag=()
  [ -f "$TF_DIR/image.auto.tfvars" ] || tag=(-var "image_tag=none")
  tf destroy -input=false -auto-approve ${tag[@]+"${tag[@]}"}
}

case "${1:-}" in
  prepare | deploy | verify | destroy) "$1" ;;
  *)
    echo "usage: ENV=ci-<id> $0 prepare|deploy|verify|destroy" >&2
    exit 2
    ;;
esac
