variable "name" {
  description = "Name prefix for every resource; also the job queue name and the prefix of the job definition names (e.g. overlord-dev)"
  type        = string
}

variable "compute_type" {
  description = "Compute environment type: FARGATE (default, nothing runs - nothing is billed - while idle), FARGATE_SPOT, EC2 or SPOT"
  type        = string
  default     = "FARGATE"

  validation {
    condition     = contains(["FARGATE", "FARGATE_SPOT", "EC2", "SPOT"], var.compute_type)
    error_message = "compute_type must be FARGATE, FARGATE_SPOT, EC2 or SPOT."
  }
}

variable "max_vcpus" {
  description = "Upper bound of vCPUs the compute environment may run at once"
  type        = number
  default     = 16
}

variable "min_vcpus" {
  description = "EC2/SPOT only: vCPUs kept running while idle (0 = scale to zero)"
  type        = number
  default     = 0
}

variable "instance_types" {
  description = "EC2/SPOT only: instance types or families"
  type        = list(string)
  default     = ["optimal"]
}

variable "spot_bid_percentage" {
  description = "SPOT only: maximum percentage of the On-Demand price"
  type        = number
  default     = 100
}

variable "job_queue_priority" {
  description = "Priority of the job queue"
  type        = number
  default     = 1
}

variable "vpc_id" {
  description = "VPC of subnet_ids (for the tasks' security group)"
  type        = string
}

variable "subnet_ids" {
  description = "Subnets the tasks run in"
  type        = list(string)
}

variable "assign_public_ip" {
  description = "Fargate only: give each task a public IP (needed in public subnets without NAT/endpoints)"
  type        = bool
}

variable "fargate_platform_version" {
  description = "Fargate platform version of the job definitions"
  type        = string
  default     = "LATEST"
}

variable "worker_image_uri" {
  description = "Full image URI of the batch worker (repository URL and immutable tag)"
  type        = string
}

variable "worker_repository_arn" {
  description = "ARN of the ECR repository the worker image is pulled from"
  type        = string
}

variable "worker_environment" {
  description = "Extra environment variables for the worker (RESULTS_BUCKET is always set)"
  type        = map(string)
  default     = {}
}

variable "results_bucket_name" {
  description = "Results bucket (RESULTS_BUCKET)"
  type        = string
}

variable "results_bucket_arn" {
  description = "ARN of the results bucket"
  type        = string
}

variable "input_bucket_arns" {
  description = "Other buckets whose objects the worker may read (e.g. for the checksum task)"
  type        = list(string)
  default     = []
}

variable "create_log_group" {
  description = "Create (and keep: prevent_destroy) the account-wide /aws/batch/job log group; false (default) lets the first task create it if missing (awslogs-create-group)"
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Retention of the /aws/batch/job log group"
  type        = number
}

variable "kms_key_arn" {
  description = "KMS key for the log group and results bucket objects; null for AWS managed encryption"
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags applied to every resource"
  type        = map(string)
  default     = {}
}
