################################################################################
# Image tasks this repository builds
################################################################################

# Those of contracts/tasks that run their own image and whose examples/tasks/<task> has
# a Dockerfile: Terraform makes an ECR repository task-<task> for each, deploy.sh builds
# and pushes it under image_tag, and the job definition runs that copy. Self-contained
# (tests/infra evaluates this file with `terraform console`).
locals {
  tasks_dir    = "${path.module}/../../../contracts/tasks"
  examples_dir = "${path.module}/../../../examples/tasks"
  built_image_tasks = sort([
    for f in fileset(local.tasks_dir, "*.json") : trimsuffix(f, ".json")
    if can(jsondecode(file("${local.tasks_dir}/${f}")).runs.image) && fileexists("${local.examples_dir}/${trimsuffix(f, ".json")}/Dockerfile")
  ])
}
