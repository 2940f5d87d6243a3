#!/usr/bin/env bash
# Deploy one environment (the `make deploy` flow):
#   1. terraform apply -target the ECR repositories (Lambdas need their image to exist)
#   2. build the submitter, recorder and worker images, and each image task's (a
#      task-<name> repository: contracts/tasks/<name>.json runs an image and
#      examples/tasks/<name> has its Dockerfile), and push them with one immutable tag
#   3. write image_tag=<that tag> to terraform/envs/$ENV/image.auto.tfvars (git-ignored),
#      where every later `terraform apply` reads it too, and apply everything
# Needs: terraform, aws CLI v2, docker with buildx, credentials for the target account,
# and terraform/envs/$ENV/terraform.tfvars (copy terraform.tfvars.example).
#
#   ENV=dev IMAGE_TAG=<tag> TF_APPLY_ARGS=-auto-approve terraform/scripts/deploy.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

ENV="${ENV:-dev}"
TF_DIR="terraform/envs/$ENV"
PLATFORM="${PLATFORM:-linux/amd64}" # must match the functions' architecture (x86_64)
read -r -a APPLY_ARGS <<<"${TF_APPLY_ARGS:-}"
# Expanded only as ${APPLY_ARGS[@]+"${APPLY_ARGS[@]}"}: with set -u, bash < 4.4
# (macOS /bin/bash 3.2) aborts on "${APPLY_ARGS[@]}" when the array is empty.

if [ ! -f "$TF_DIR/terraform.tfvars" ]; then
  echo "deploy: $TF_DIR/terraform.tfvars is missing; start from terraform.tfvars.example" >&2
  exit 1
fi

# Tags are immutable in ECR: one tag per commit; uncommitted changes get a unique suffix.
# Every path an image COPYs (tests/infra/test_deploy_script.py checks the Dockerfiles)
# and that Terraform reads for the images (contracts/: the tasks; examples/tasks/: the
# image tasks' own builds): a change there under a clean commit's tag would be skipped
# as "already pushed" while Terraform registers what it changed.
BUILD_INPUTS=(pyproject.toml README.md requirements contracts src services batch-worker examples/tasks)
TAG="${IMAGE_TAG:-$(git rev-parse --short=12 HEAD)}"
if [ -z "${IMAGE_TAG:-}" ] && [ -n "$(git status --porcelain -- ${BUILD_INPUTS[@]+"${BUILD_INPUTS[@]}"})" ]; then
  TAG="$TAG-dirty-$(date -u +%Y%m%d%H%M%S)"
fi
echo "deploy: environment $ENV, image tag $TAG"

tf() { terraform -chdir="$TF_DIR" "$@"; }

tf init -input=false

# 1. Repositories first (pulls in the KMS key they are encrypted with).
tf apply -input=false ${APPLY_ARGS[@]+"${APPLY_ARGS[@]}"} -var "image_tag=$TAG" \
  -target=module.functions.aws_ecr_repository.this \
  -target=module.functions.aws_ecr_lifecycle_policy.this

REPOSITORIES="$(tf output -json ecr_repository_urls)"
repo_url() {
  python3 -c "import json, sys; print(json.loads(sys.argv[1])['$1'])" "$REPOSITORIES"
}
SUBMITTER="$(repo_url submitter)"
RECORDER="$(repo_url recorder)"
WORKER="$(repo_url worker)"
REGISTRY="${SUBMITTER%%/*}"
REGION="$(cut -d. -f4 <<<"$REGISTRY")"

# 2. Build and push (skipping tags already in the repository).
aws ecr get-login-password --region "$REGION" | docker login --username AWS --password-stdin "$REGISTRY"
build_and_push() { # <repository url> <Dockerfile> [<context>]
  local url="$1" dockerfile="$2" context="${3:-.}" name="${1#*/}"
  if aws ecr describe-images --region "$REGION" --repository-name "$name" \
    --image-ids "imageTag=$TAG" >/dev/null 2>&1; then
    echo "deploy: $url:$TAG already pushed"
    return
  fi
  # --provenance=false: Lambda rejects image indexes carrying attestations.
  docker buildx build --platform "$PLATFORM" --provenance=false \
    -f "$dockerfile" -t "$url:$TAG" --push "$context"
}
build_and_push "$SUBMITTER" services/submitter/Dockerfile
build_and_push "$RECORDER" services/recorder/Dockerfile
build_and_push "$WORKER" batch-worker/Dockerfile
# Image tasks: Terraform points their job definitions at <repository>:$TAG.
for task in $(python3 -c "import json, sys; print(' '.join(k.removeprefix('task-') for k in json.loads(sys.argv[1]) if k.startswith('task-')))" "$REPOSITORIES"); do
  build_and_push "$(repo_url "task-$task")" "examples/tasks/$task/Dockerfile" "examples/tasks/$task"
done

# 3. Record the tag where Terraform reads it (a later plain `terraform apply` keeps
#    these images instead of asking for image_tag), then apply everything else.
printf '# Written by terraform/scripts/deploy.sh: the images last pushed (git-ignored).\nimage_tag = "%s"\n' \
  "$TAG" >"$TF_DIR/image.auto.tfvars"
tf apply -input=false ${APPLY_ARGS[@]+"${APPLY_ARGS[@]}"}

echo
echo "deploy: done. If this is the first deploy, set the MongoDB URI once:"
echo "  aws secretsmanager put-secret-value --secret-id $(tf output -raw mongodb_secret_arn) --secret-string 'mongodb+srv://...'"
echo "API: $(tf output -raw api_url)"
