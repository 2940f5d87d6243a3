variable "name" {
  description = "Name prefix of every resource (overlord-<env>)"
  type        = string
}

variable "environment" {
  description = "The `environment` dimension of the product's metrics (OVERLORD_ENVIRONMENT)"
  type        = string
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the product's metrics (METRICS_NAMESPACE)"
  type        = string
  default     = "Overlord"
}

variable "service" {
  description = "The `service` dimension of the product's metrics (OVERLORD_SERVICE)"
  type        = string
  default     = "overlord"
}

variable "alarm_email" {
  description = "Address subscribed to the alarm topic (it must confirm the subscription); null: none"
  type        = string
  default     = null

  validation {
    condition     = var.alarm_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email: an e-mail address (name@example.com), or null for no subscription."
  }
}

variable "function_names" {
  description = "Lambda function names by role (submitter, recorder, reconcile): errors and throttles alarms"
  type        = map(string)
}

variable "log_group_names" {
  description = "Log groups the saved Logs Insights queries search (the Lambdas' and the Batch jobs')"
  type        = list(string)
}

variable "dead_letter_queue_names" {
  description = "SQS dead-letter queues by role (e.g. events, lambdas, recorder): an alarm on each one's depth"
  type        = map(string)

  validation {
    condition     = length(var.dead_letter_queue_names) > 0
    error_message = "dead_letter_queue_names: name at least one queue; every DLQ of the deployment belongs here."
  }
}

variable "api_id" {
  description = "HTTP API id: the 5xx-rate alarm"
  type        = string
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for the alarm topic; its policy must let CloudWatch use it. Null: the module creates one"
  type        = string
  default     = null
}

variable "api_5xx_rate_percent" {
  description = "Alarm when more than this share of API requests answer 5xx over 5 minutes"
  type        = number
  default     = 5
}

variable "event_lag_p99_milliseconds" {
  description = "Alarm when the 99th percentile of event lag (event time -> recorded) stays above this for 15 minutes"
  type        = number
  default     = 120000
}

variable "reconcile_repairs_per_hour" {
  description = "Alarm when reconcile repairs more than this in an hour (events are being lost)"
  type        = number
  default     = 10
}

variable "stuck_jobs_threshold" {
  description = "Alarm when more jobs than this stay in flight past reconcile's threshold for 30 minutes"
  type        = number
  default     = 0
}

variable "reconcile_period_seconds" {
  description = "How often reconcile runs (its schedule), so that the stuck-jobs alarm sees one data point per period"
  type        = number
  default     = 900
}

variable "tags" {
  description = "Tags on every resource"
  type        = map(string)
  default     = {}
}
