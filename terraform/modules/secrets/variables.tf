variable "name" {
  description = "Name prefix for every resource (e.g. overlord-dev)"
  type        = string
}

variable "create_kms_key" {
  description = "Create a customer managed KMS key (about 1 USD/month) used by the secret and handed to the other modules; false falls back to AWS managed keys"
  type        = bool
  default     = true
}

variable "kms_key_deletion_window_in_days" {
  description = "Waiting period before a deleted KMS key is destroyed"
  type        = number
  default     = 30
}

variable "kms_key_rotation_period_in_days" {
  description = "Automatic rotation period of the KMS key material"
  type        = number
  default     = 365
}

variable "secret_recovery_window_in_days" {
  description = "Days a deleted secret can still be restored (0 deletes immediately)"
  type        = number
  default     = 7
}

variable "tags" {
  description = "Tags applied to every resource"
  type        = map(string)
  default     = {}
}
