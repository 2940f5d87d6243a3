################################################################################
# The task catalogue: one job definition per contracts/tasks/<task>.json
################################################################################

# The same RegisterJobDefinition shape as overlord_contracts.catalogue.job_definition, the
# one Python builder (product and local stack; tests/infra/test_catalogue_definitions.py
# evaluates this file with `terraform console` and compares). Adding a task is adding a
# file there: nothing here changes.
locals {
  tasks_dir = "${path.module}/../../../contracts/tasks"
  tasks = {
    for f in fileset(local.tasks_dir, "*.json") :
    trimsuffix(f, ".json") => jsondecode(file("${local.tasks_dir}/${f}"))
  }

  # Keyed by the contract name (overlord-<task>); registered as <var.name>-<key>.
  task_job_definitions = {
    for name, task in local.tasks : "overlord-${name}" => {
      jobDefinitionName = "overlord-${name}"
      type              = "container"
      # The JSON round trip lets the two kinds of task have differently shaped values.
      containerProperties = jsondecode(can(task.runs.image) ? jsonencode({
        image                = lookup(var.task_images, name, task.runs.image)
        command              = task.runs.command
        resourceRequirements = [{ type = "VCPU", value = tostring(task.vcpus) }, { type = "MEMORY", value = tostring(task.memory) }]
        environment          = []
        }) : jsonencode({
        image                = var.worker_image_uri
        command              = ["python", "-m", "overlord_worker"]
        resourceRequirements = [{ type = "VCPU", value = tostring(task.vcpus) }, { type = "MEMORY", value = tostring(task.memory) }]
        environment          = [{ name = "PYTHONUNBUFFERED", value = "1" }]
      }))
      retryStrategy = {
        attempts = task.attempts
        evaluateOnExit = [
          for code in distinct([for c in try(task.no_retry_exit_codes, []) : tostring(c)]) :
          { onExitCode = code, action = "EXIT" }
        ]
      }
      timeout       = { attemptDurationSeconds = task.timeout_seconds }
      propagateTags = true
    }
  }
}
