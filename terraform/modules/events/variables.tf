variable "name" {
  description = "Name prefix for every resource (e.g. overlord-dev)"
  type        = string
}

variable "job_queue_arn" {
  description = "ARN of the Batch job queue whose events are recorded"
  type        = string
}

variable "recorder_function_name" {
  description = "Name of the recorder Lambda"
  type        = string
}

variable "recorder_function_arn" {
  description = "ARN of the recorder Lambda"
  type        = string
}

variable "reconcile_function_name" {
  description = "Name of the reconcile Lambda"
  type        = string
}

variable "reconcile_function_arn" {
  description = "ARN of the reconcile Lambda"
  type        = string
}

variable "reconcile_schedule_expression" {
  description = "How often reconcile runs (EventBridge rate() or cron())"
  type        = string
  default     = "rate(15 minutes)"
}

variable "reconcile_enabled" {
  description = "Whether the reconcile schedule is enabled"
  type        = bool
  default     = true
}

variable "maximum_event_age_in_seconds" {
  description = "How long EventBridge keeps retrying delivery to a target (60-86400)"
  type        = number
  default     = 3600
}

variable "maximum_retry_attempts" {
  description = "Delivery retries before an event goes to the dead-letter queue (0-185)"
  type        = number
  default     = 24
}

variable "kms_key_arn" {
  description = "KMS key for the dead-letter queue (its policy must let events.amazonaws.com use it); null for SQS managed encryption"
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags applied to every resource"
  type        = map(string)
  default     = {}
}
