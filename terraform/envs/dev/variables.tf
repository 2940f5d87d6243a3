################################################################################
# Must be set by the operator
################################################################################

variable "region" {
  description = "AWS region to deploy to"
  type        = string
}

variable "image_tag" {
  description = "Tag of the submitter, recorder and worker images pushed to ECR (immutable; the git SHA). Written to image.auto.tfvars by deploy.sh"
  type        = string
}

variable "azs" {
  description = "Availability zones of the created subnets, one per subnet (only when create_vpc = true)"
  type        = list(string)
  default     = []
}

################################################################################
# Naming and tags
################################################################################

variable "environment" {
  description = "Environment name; resources are called overlord-<environment>-*"
  type        = string
  default     = "dev"
}

variable "tags" {
  description = "Extra tags for every resource"
  type        = map(string)
  default     = {}
}

################################################################################
# Data
################################################################################

variable "db_name" {
  description = "MongoDB database (DB_NAME)"
  type        = string
  default     = "overlord"
}

variable "results_bucket_name" {
  description = "Results bucket name; null derives overlord-<env>-results-<account>-<region>"
  type        = string
  default     = null
}

variable "results_bucket_force_destroy" {
  description = "Let terraform destroy empty the results bucket"
  type        = bool
  default     = false
}

variable "ecr_force_delete" {
  description = "Let terraform destroy delete ECR repositories that still hold images"
  type        = bool
  default     = false
}

variable "input_bucket_arns" {
  description = "Other buckets the worker may read objects from (checksum task)"
  type        = list(string)
  default     = []
}

variable "create_kms_key" {
  description = "Create the customer managed KMS key (about 1 USD/month)"
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Retention of every log group (job logs are also copied into MongoDB)"
  type        = number
  default     = 365
}

################################################################################
# Network
################################################################################

variable "create_vpc" {
  description = "Create a VPC; false uses vpc_id/subnet_ids/route_table_ids"
  type        = bool
  default     = true
}

variable "vpc_id" {
  description = "Existing VPC (create_vpc = false)"
  type        = string
  default     = null
}

variable "subnet_ids" {
  description = "Existing subnets for Batch tasks (create_vpc = false)"
  type        = list(string)
  default     = []
}

variable "route_table_ids" {
  description = "Route tables of subnet_ids for the S3 gateway endpoint (create_vpc = false)"
  type        = list(string)
  default     = []
}

variable "assign_public_ip" {
  description = "Public IP for Fargate tasks in existing subnets (create_vpc = false)"
  type        = bool
  default     = false
}

variable "vpc_cidr" {
  description = "CIDR of the created VPC"
  type        = string
  default     = "10.42.0.0/16"
}

variable "enable_flow_log" {
  description = "Log rejected traffic of the created VPC to CloudWatch Logs"
  type        = bool
  default     = true
}

variable "create_nat_gateway" {
  description = "Create a NAT gateway in the created VPC (billed hourly; create_vpc = true only); lets lambdas_in_vpc reach MongoDB Atlas"
  type        = bool
  default     = false
}

variable "enable_vpc_endpoints" {
  description = "Create VPC endpoints (interface endpoints billed hourly per AZ; with EC2/SPOT also ecs, ecs-agent, ecs-telemetry); tasks then run in private subnets"
  type        = bool
  default     = false
}

variable "lambdas_in_vpc" {
  description = "Attach the Lambdas to the private subnets (with create_vpc: needs create_nat_gateway, or enable_vpc_endpoints and a private route to MongoDB; checked by checks.tf)"
  type        = bool
  default     = false
}

################################################################################
# Batch
################################################################################

variable "batch_compute_type" {
  description = "FARGATE, FARGATE_SPOT, EC2 or SPOT (EC2/SPOT in a created VPC need create_nat_gateway or enable_vpc_endpoints)"
  type        = string
  default     = "FARGATE"
}

variable "batch_max_vcpus" {
  description = "Maximum vCPUs of the compute environment"
  type        = number
  default     = 16
}

variable "batch_min_vcpus" {
  description = "EC2/SPOT only: vCPUs kept running while idle (billed; 0 = scale to zero)"
  type        = number
  default     = 0
}

variable "create_batch_log_group" {
  description = "Create Batch's account-wide /aws/batch/job log group (prevent_destroy); false (default): the first task creates it if missing"
  type        = bool
  default     = false
}

################################################################################
# Lambdas, API, events
################################################################################

variable "log_level" {
  description = "LOG_LEVEL of the Lambdas"
  type        = string
  default     = "INFO"
}

variable "mongodb_connection_budget" {
  description = "MongoDB connections this environment may open (cluster limit / environments sharing it); sets the submitter's reserved concurrency and the recorder's maximum concurrency (modules/functions/budget.tf). null (default) = no budget; a budget reserves concurrency, which needs an account quota leaving 10 unreserved"
  type        = number
  default     = null
}

variable "mongodb_max_pool_size" {
  description = "MongoDB connections per Lambda execution environment (MONGODB_MAX_POOL_SIZE)"
  type        = number
  default     = 2
}

variable "mongodb_replica_set_members" {
  description = "Members of the MongoDB replica set (monitoring connections per client: 2 each)"
  type        = number
  default     = 3
}

variable "submitter_connection_share" {
  description = "Share (0-1) of the budgeted execution environments reserved for the submitter; the rest go to the recorder"
  type        = number
  default     = 0.5
}

variable "recorder_maximum_concurrency" {
  description = "Without a budget: batches the recorder processes at once (2-1000)"
  type        = number
  default     = 5
}

variable "recorder_batch_size" {
  description = "Batch events per recorder invocation"
  type        = number
  default     = 10
}

variable "recorder_batching_window_seconds" {
  description = "Seconds the recorder's event source mapping may wait to fill a batch"
  type        = number
  default     = 1
}

variable "submitter_reserved_concurrency" {
  description = "Without mongodb_connection_budget: reserved concurrency of the submitter; null (default) = unreserved. Needs an account concurrency quota leaving 10 unreserved"
  type        = number
  default     = null
}

variable "recorder_reserved_concurrency" {
  description = "Reserved concurrency of the recorder; null (default) = unreserved. Needs an account concurrency quota leaving 10 unreserved"
  type        = number
  default     = null
}

variable "reconcile_reserved_concurrency" {
  description = "Reserved concurrency of the reconcile; null (default) = unreserved. Needs an account concurrency quota leaving 10 unreserved"
  type        = number
  default     = null
}

variable "api_throttling_burst_limit" {
  description = "API burst limit"
  type        = number
  default     = 50
}

variable "api_throttling_rate_limit" {
  description = "API steady-state requests per second"
  type        = number
  default     = 20
}

variable "reconcile_schedule_expression" {
  description = "How often reconcile runs"
  type        = string
  default     = "rate(15 minutes)"
}

variable "task_images" {
  description = "Image of an image task (contracts/tasks) by task name, replacing the one its catalogue file names, e.g. its copy in ECR"
  type        = map(string)
  default     = {}
}

variable "task_repository_arns" {
  description = "ECR repositories of image tasks that Batch's execution role may pull from"
  type        = list(string)
  default     = []
}

################################################################################
# Monitoring
################################################################################

variable "metrics_namespace" {
  description = "CloudWatch namespace of the product's metrics"
  type        = string
  default     = "Overlord"
}

variable "alarm_email" {
  description = "Address subscribed to the alarm topic (confirm the e-mail AWS sends); null: no subscription"
  type        = string
  default     = null
}

variable "alarm_api_5xx_rate_percent" {
  description = "API 5xx alarm: share of requests (%) over 5 minutes"
  type        = number
  default     = 5
}

variable "alarm_event_lag_p99_milliseconds" {
  description = "Event lag alarm: p99 of event time -> recorded (ms), 15 minutes"
  type        = number
  default     = 120000
}

variable "alarm_reconcile_repairs_per_hour" {
  description = "Reconcile repairs alarm: repairs in one hour"
  type        = number
  default     = 10
}

variable "alarm_stuck_jobs_threshold" {
  description = "Stuck jobs alarm: jobs in flight past reconcile's threshold, on every pass for 30 minutes"
  type        = number
  default     = 0
}
