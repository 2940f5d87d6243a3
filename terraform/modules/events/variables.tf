variable "name" {
  description = "Name prefix for every resource (e.g. overlord-dev)"
  type        = string
}

variable "job_queue_arn" {
  description = "ARN of the Batch job queue whose events are recorded"
  type        = string
}

variable "recorder_timeout_seconds" {
  description = "Timeout (s) of the recorder Lambda that reads the events queue; the queue's visibility timeout is 6 times this"
  type        = number
}

variable "minimum_visibility_timeout_seconds" {
  description = "Lower bound of the events queue's visibility timeout"
  type        = number
  default     = 30
}

variable "max_receive_count" {
  description = "Receives of a message the recorder keeps failing before it moves to the events queue's DLQ"
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "1-1000."
  }
}

variable "message_retention_seconds" {
  description = "How long the events queue keeps an unprocessed message (60-1209600)"
  type        = number
  default     = 345600
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
