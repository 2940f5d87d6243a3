variable "name" {
  description = "Name of the API (e.g. overlord-dev)"
  type        = string
}

variable "submitter_function_name" {
  description = "Name of the submitter Lambda"
  type        = string
}

variable "submitter_invoke_arn" {
  description = "Invoke ARN of the submitter Lambda"
  type        = string
}

variable "integration_timeout_milliseconds" {
  description = "How long API Gateway waits for the submitter (max 30000)"
  type        = number
  default     = 30000
}

variable "throttling_burst_limit" {
  description = "Stage burst limit (requests)"
  type        = number
  default     = 50
}

variable "throttling_rate_limit" {
  description = "Stage steady-state limit (requests per second); AWS Batch SubmitJob itself allows about 50 TPS"
  type        = number
  default     = 20
}

variable "log_retention_days" {
  description = "Retention of the access log group"
  type        = number
}

variable "kms_key_arn" {
  description = "KMS key for the access log group; null for CloudWatch Logs' own encryption"
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags applied to every resource"
  type        = map(string)
  default     = {}
}
