variable "bucket_name" {
  description = "Globally unique name of the results bucket"
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for SSE-KMS; null uses the AWS managed aws/s3 key"
  type        = string
  default     = null
}

variable "params_expiration_days" {
  description = "Days after which objects under params/ (large job parameters) are expired"
  type        = number
  default     = 90
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which overwritten or deleted object versions are removed"
  type        = number
  default     = 30
}

variable "force_destroy" {
  description = "Allow terraform destroy to delete a non-empty bucket (keep false outside throwaway environments)"
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags applied to every resource"
  type        = map(string)
  default     = {}
}
