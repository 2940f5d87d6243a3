################################################################################
# MongoDB connection budget (docs/operations.md, "MongoDB connections")
#
# Every Lambda execution environment holds one MongoClient: up to max_pool_size
# connections to the primary, plus pymongo's two monitoring connections (the
# monitor and its round-trip-time probe) to each replica-set member. So
#
#   environments x (max_pool_size + 2 x members) <= mongodb_connection_budget
#
# and the environments are shared out: one for the reconcile run, the submitter's
# share of the rest as its reserved concurrency, the recorder's as its event source
# mapping's maximum concurrency. Only variables and locals here, so
# tests/infra/test_terraform_budget.py evaluates this file on its own.
################################################################################

variable "mongodb_connection_budget" {
  description = "MongoDB connections this environment may open (the cluster's limit, e.g. 1,500 on an Atlas M10, divided among the environments sharing it); null = no budget: the submitter unreserved, the recorder's mapping at recorder_maximum_concurrency"
  type        = number
  default     = null

  validation {
    condition     = var.mongodb_connection_budget == null || try(var.mongodb_connection_budget >= 0, false)
    error_message = "A number of connections, or null for no budget."
  }
}

variable "mongodb_max_pool_size" {
  description = "Connections one execution environment's MongoClient may open to the primary (MONGODB_MAX_POOL_SIZE); a Lambda handles one request at a time"
  type        = number
  default     = 2

  validation {
    condition     = var.mongodb_max_pool_size >= 1
    error_message = "At least 1."
  }
}

variable "mongodb_replica_set_members" {
  description = "Members of the MongoDB replica set (each gets two monitoring connections per client)"
  type        = number
  default     = 3
}

variable "submitter_connection_share" {
  description = "Share (0-1) of the budgeted environments, after the reconcile's one, reserved for the submitter; the rest is the recorder's maximum concurrency"
  type        = number
  default     = 0.5

  validation {
    condition     = var.submitter_connection_share > 0 && var.submitter_connection_share < 1
    error_message = "Strictly between 0 and 1."
  }
}

variable "recorder_maximum_concurrency" {
  description = "Without a budget: batches the recorder's event source mapping processes at once (2-1000)"
  type        = number
  default     = 5

  validation {
    condition     = var.recorder_maximum_concurrency >= 2 && var.recorder_maximum_concurrency <= 1000
    error_message = "Lambda accepts 2-1000."
  }
}

locals {
  budgeted                    = var.mongodb_connection_budget != null
  connections_per_environment = var.mongodb_max_pool_size + 2 * var.mongodb_replica_set_members
  budget_environments         = local.budgeted ? floor(var.mongodb_connection_budget / local.connections_per_environment) : 0
  # After the reconcile's one environment.
  shared_environments = max(local.budget_environments - 1, 0)

  submitter_budget_concurrency = floor(local.shared_environments * var.submitter_connection_share)
  # Lambda's event source mappings accept a maximum concurrency of 2 to 1,000.
  recorder_budget_concurrency = min(1000, local.shared_environments - local.submitter_budget_concurrency)

  connection_plan = {
    per_environment              = local.connections_per_environment
    environments                 = local.budget_environments
    submitter_reserved           = local.budgeted ? local.submitter_budget_concurrency : null
    recorder_maximum_concurrency = local.budgeted ? local.recorder_budget_concurrency : var.recorder_maximum_concurrency
    # The most the three functions can open when the budget applies.
    peak_connections = local.budgeted ? (local.submitter_budget_concurrency + local.recorder_budget_concurrency + 1) * local.connections_per_environment : null
  }
}

resource "terraform_data" "connection_budget_check" {
  lifecycle {
    precondition {
      condition     = !local.budgeted || (local.submitter_budget_concurrency >= 1 && local.recorder_budget_concurrency >= 2)
      error_message = "mongodb_connection_budget = ${coalesce(var.mongodb_connection_budget, 0)} allows ${local.budget_environments} execution environments of ${local.connections_per_environment} connections each: the reconcile needs 1, the submitter at least 1 and the recorder's event source mapping at least 2. Raise the budget, lower mongodb_max_pool_size, or set the budget to null."
    }
  }
}
