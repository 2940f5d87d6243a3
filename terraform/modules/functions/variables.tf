variable "name" {
  description = "Name prefix for every resource (e.g. overlord-dev)"
  type        = string
}

variable "image_tag" {
  description = "Tag of the submitter/recorder images to deploy (tags are immutable: use a new one per build, e.g. the git SHA)"
  type        = string
}

variable "architecture" {
  description = "Instruction set of the images: x86_64 or arm64"
  type        = string
  default     = "x86_64"
}

variable "memory_size" {
  description = "Memory (MB) of each function"
  type        = number
  default     = 512
}

variable "submitter_timeout" {
  description = "Timeout (s) of the submitter; API Gateway gives up after 30 s"
  type        = number
  default     = 29

  # A submitter alive past its claim's 60 s lease (CLAIM_LEASE) could submit a job that
  # another request has taken over since: a second Batch job for one input.
  validation {
    condition     = var.submitter_timeout < 60
    error_message = "submitter_timeout must be under the submitter's 60 s claim lease."
  }
}

variable "recorder_timeout" {
  description = "Timeout (s) of the recorder (one batch); the events queue's visibility timeout is 6 times this"
  type        = number
  default     = 60
}

variable "reconcile_timeout" {
  description = "Timeout (s) of the reconcile run"
  type        = number
  default     = 300
}

variable "recorder_queue_arn" {
  description = "SQS queue of the Batch Job State Change events the recorder reads (events module)"
  type        = string
}

variable "recorder_batch_size" {
  description = "Messages per recorder invocation (event source mapping batch_size; above 10 needs a batching window)"
  type        = number
  default     = 10

  validation {
    condition     = var.recorder_batch_size >= 1 && var.recorder_batch_size <= 10000
    error_message = "1-10000."
  }
}

variable "recorder_batching_window_seconds" {
  description = "Seconds the event source mapping may wait to fill a batch (maximum_batching_window_in_seconds, 0-300)"
  type        = number
  default     = 1

  validation {
    condition     = var.recorder_batching_window_seconds >= 0 && var.recorder_batching_window_seconds <= 300
    error_message = "0-300."
  }
}

variable "submitter_reserved_concurrency" {
  description = "Without mongodb_connection_budget: reserved concurrency of the submitter (also caps SubmitJob calls and MongoDB connections); null = unreserved (draws on the account's pool)"
  type        = number
  default     = null

  validation {
    condition     = var.submitter_reserved_concurrency == null || try(var.submitter_reserved_concurrency >= 0, false)
    error_message = "A number >= 0, or null for no reservation."
  }
}

variable "recorder_reserved_concurrency" {
  description = "Reserved concurrency of the recorder; null = unreserved (draws on the account's pool)"
  type        = number
  default     = null

  validation {
    condition     = var.recorder_reserved_concurrency == null || try(var.recorder_reserved_concurrency >= 0, false)
    error_message = "A number >= 0, or null for no reservation."
  }
}

variable "reconcile_reserved_concurrency" {
  description = "Reserved concurrency of the reconcile (1 keeps runs from overlapping); null = unreserved (draws on the account's pool)"
  type        = number
  default     = null

  validation {
    condition     = var.reconcile_reserved_concurrency == null || try(var.reconcile_reserved_concurrency >= 0, false)
    error_message = "A number >= 0, or null for no reservation."
  }
}

variable "log_level" {
  description = "LOG_LEVEL of the functions"
  type        = string
  default     = "INFO"
}

variable "db_name" {
  description = "MongoDB database (DB_NAME)"
  type        = string
}

variable "mongodb_secret_arn" {
  description = "Secret holding the MongoDB URI (MONGODB_SECRET_ARN)"
  type        = string
}

variable "job_queue_arn" {
  description = "Batch job queue (JOB_QUEUE)"
  type        = string
}

variable "job_definition_prefix" {
  description = "Prefix of every registered job definition name before its contract name overlord-<task> (JOB_DEFINITION_PREFIX), e.g. overlord-dev-"
  type        = string
}

variable "image_task_repositories" {
  description = "Image tasks deploy.sh builds (examples/tasks/<task>/Dockerfile): one ECR repository task-<task> each"
  type        = list(string)
  default     = []
}

variable "deployed_task_images" {
  description = "Image tasks that have an image in this deployment (TASK_IMAGES): the submitter refuses the others with 400"
  type        = list(string)
  default     = []
}

variable "job_log_group_arn" {
  description = "ARN of the Batch job log group (/aws/batch/job) the recorder reads"
  type        = string
}

variable "results_bucket_name" {
  description = "Results bucket (RESULTS_BUCKET)"
  type        = string
}

variable "results_bucket_arn" {
  description = "ARN of the results bucket"
  type        = string
}

variable "vpc_id" {
  description = "VPC for the functions' security group (only with vpc_subnet_ids)"
  type        = string
  default     = null
}

variable "vpc_subnet_ids" {
  description = "Attach the functions to these subnets (need a NAT gateway to reach MongoDB Atlas); empty = no VPC"
  type        = list(string)
  default     = []
}

variable "mongodb_port" {
  description = "TCP port VPC-attached functions may use to reach MongoDB"
  type        = number
  default     = 27017
}

variable "mongodb_cidr_blocks" {
  description = "Where MongoDB lives, for the functions' security group"
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "ecr_keep_images" {
  description = "Images kept per ECR repository"
  type        = number
  default     = 20
}

variable "ecr_force_delete" {
  description = "Let terraform destroy delete repositories that still hold images"
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Retention of the functions' log groups"
  type        = number
}

variable "kms_key_arn" {
  description = "KMS key for ECR, logs, SQS and environment variables; null for AWS managed encryption"
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags applied to every resource"
  type        = map(string)
  default     = {}
}

variable "environment" {
  description = "Deployment environment: the `environment` dimension of the product's metrics"
  type        = string
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the product's metrics"
  type        = string
  default     = "Overlord"
}
