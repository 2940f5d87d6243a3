data "aws_caller_identity" "current" {}

locals {
  name = "overlord-${var.environment}"

  tags = merge(var.tags, {
    Project     = "overlord"
    Environment = var.environment
    ManagedBy   = "terraform"
  })

  # Image tasks (image_tasks.tf): those deploy.sh pushes to task-<task> under image_tag,
  # and task_images, which adds or replaces images (e.g. pushed elsewhere). A task in
  # neither is refused with 400 (TASK_IMAGES) rather than pulled from Docker Hub.
  task_images = merge(
    { for t in local.built_image_tasks : t => "${module.functions.repository_urls["task-${t}"]}:${var.image_tag}" },
    var.task_images,
  )
  task_repository_arns = concat(
    [for t in local.built_image_tasks : module.functions.repository_arns["task-${t}"]],
    var.task_repository_arns,
  )

  results_bucket_name = coalesce(var.results_bucket_name, "${local.name}-results-${data.aws_caller_identity.current.account_id}-${var.region}")
}

################################################################################
# Secret and KMS key
################################################################################

module "secrets" {
  source = "../../modules/secrets"

  name           = local.name
  create_kms_key = var.create_kms_key

  tags = local.tags
}

################################################################################
# Results bucket
################################################################################

module "storage" {
  source = "../../modules/storage"

  bucket_name   = local.results_bucket_name
  kms_key_arn   = module.secrets.kms_key_arn
  force_destroy = var.results_bucket_force_destroy

  tags = local.tags
}

################################################################################
# Network
################################################################################

module "network" {
  source = "../../modules/network"

  name                 = local.name
  create_vpc           = var.create_vpc
  vpc_id               = var.vpc_id
  subnet_ids           = var.subnet_ids
  route_table_ids      = var.route_table_ids
  assign_public_ip     = var.assign_public_ip
  vpc_cidr             = var.vpc_cidr
  azs                  = var.azs
  create_nat_gateway   = var.create_nat_gateway
  enable_vpc_endpoints = var.enable_vpc_endpoints
  # EC2/SPOT instances need ecs, ecs-agent, ecs-telemetry endpoints (see checks.tf).
  ecs_instance_endpoints = !local.batch_on_fargate
  enable_flow_log        = var.enable_flow_log
  log_retention_days     = var.log_retention_days
  kms_key_arn            = module.secrets.kms_key_arn

  tags = local.tags
}

################################################################################
# AWS Batch
################################################################################

module "batch" {
  source = "../../modules/batch"

  name             = local.name
  compute_type     = var.batch_compute_type
  max_vcpus        = var.batch_max_vcpus
  min_vcpus        = var.batch_min_vcpus
  vpc_id           = module.network.vpc_id
  subnet_ids       = module.network.workload_subnet_ids
  assign_public_ip = module.network.assign_public_ip

  worker_image_uri      = "${module.functions.repository_urls["worker"]}:${var.image_tag}"
  worker_repository_arn = module.functions.repository_arns["worker"]
  task_images           = local.task_images
  task_repository_arns  = local.task_repository_arns

  results_bucket_name = module.storage.bucket_name
  results_bucket_arn  = module.storage.bucket_arn
  input_bucket_arns   = var.input_bucket_arns

  create_log_group   = var.create_batch_log_group
  log_retention_days = var.log_retention_days
  kms_key_arn        = module.secrets.kms_key_arn

  tags = local.tags
}

################################################################################
# Lambdas and ECR
################################################################################

module "functions" {
  source = "../../modules/functions"

  name             = local.name
  image_tag        = var.image_tag
  log_level        = var.log_level
  ecr_force_delete = var.ecr_force_delete

  environment           = var.environment
  metrics_namespace     = var.metrics_namespace
  db_name               = var.db_name
  mongodb_secret_arn    = module.secrets.mongodb_secret_arn
  job_queue_arn         = module.batch.job_queue_arn
  job_definition_prefix = module.batch.job_definition_prefix
  job_log_group_arn     = module.batch.log_group_arn

  image_task_repositories = local.built_image_tasks
  deployed_task_images    = sort(distinct(concat(local.built_image_tasks, keys(var.task_images))))
  results_bucket_name     = module.storage.bucket_name
  results_bucket_arn      = module.storage.bucket_arn

  vpc_id         = module.network.vpc_id
  vpc_subnet_ids = var.lambdas_in_vpc ? module.network.private_subnet_ids : []

  recorder_queue_arn               = module.events.queue_arn
  recorder_batch_size              = var.recorder_batch_size
  recorder_batching_window_seconds = var.recorder_batching_window_seconds

  # MongoDB connections: one budget shared out (modules/functions/budget.tf).
  mongodb_connection_budget    = var.mongodb_connection_budget
  mongodb_max_pool_size        = var.mongodb_max_pool_size
  mongodb_replica_set_members  = var.mongodb_replica_set_members
  submitter_connection_share   = var.submitter_connection_share
  recorder_maximum_concurrency = var.recorder_maximum_concurrency

  submitter_reserved_concurrency = var.submitter_reserved_concurrency
  recorder_reserved_concurrency  = var.recorder_reserved_concurrency
  reconcile_reserved_concurrency = var.reconcile_reserved_concurrency

  log_retention_days = var.log_retention_days
  kms_key_arn        = module.secrets.kms_key_arn

  tags = local.tags
}

################################################################################
# HTTP API
################################################################################

module "api" {
  source = "../../modules/api"

  name                    = local.name
  submitter_function_name = module.functions.function_names["submitter"]
  submitter_invoke_arn    = module.functions.function_invoke_arns["submitter"]
  throttling_burst_limit  = var.api_throttling_burst_limit
  throttling_rate_limit   = var.api_throttling_rate_limit

  log_retention_days = var.log_retention_days
  kms_key_arn        = module.secrets.kms_key_arn

  tags = local.tags
}

################################################################################
# EventBridge
################################################################################

module "events" {
  source = "../../modules/events"

  name                          = local.name
  job_queue_arn                 = module.batch.job_queue_arn
  recorder_timeout_seconds      = module.functions.recorder_timeout
  reconcile_function_name       = module.functions.function_names["reconcile"]
  reconcile_function_arn        = module.functions.function_arns["reconcile"]
  reconcile_schedule_expression = var.reconcile_schedule_expression

  kms_key_arn = module.secrets.kms_key_arn

  tags = local.tags
}

################################################################################
# Monitoring: alarm topic, alarms, dashboard, saved queries (docs/operations.md)
################################################################################

locals {
  # "rate(15 minutes)" -> 900: the stuck-jobs alarm expects one data point per pass.
  reconcile_rate_minutes   = regexall("^rate\\((\\d+) minutes?\\)$", var.reconcile_schedule_expression)
  reconcile_period_seconds = length(local.reconcile_rate_minutes) > 0 ? tonumber(local.reconcile_rate_minutes[0][0]) * 60 : 900
}

module "monitoring" {
  source = "../../modules/monitoring"

  name              = local.name
  environment       = var.environment
  metrics_namespace = var.metrics_namespace
  alarm_email       = var.alarm_email

  function_names = module.functions.function_names
  api_id         = module.api.api_id
  # Every dead-letter queue of the deployment, by role; a module that adds one adds it here.
  dead_letter_queue_names = {
    events  = module.events.dead_letter_queue_name
    lambdas = module.functions.dead_letter_queue_name
    # Batch events the recorder failed max_receive_count times (its SQS mapping).
    recorder = module.events.queue_dlq_name
  }
  log_group_names = concat(values(module.functions.log_group_names), [module.batch.log_group_name])

  reconcile_period_seconds   = local.reconcile_period_seconds
  api_5xx_rate_percent       = var.alarm_api_5xx_rate_percent
  event_lag_p99_milliseconds = var.alarm_event_lag_p99_milliseconds
  reconcile_repairs_per_hour = var.alarm_reconcile_repairs_per_hour
  stuck_jobs_threshold       = var.alarm_stuck_jobs_threshold

  tags = local.tags
}
