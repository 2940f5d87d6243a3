data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  # The product's images, and each image task's that deploy.sh builds (task-<task>).
  repositories = toset(concat(["submitter", "recorder", "worker"], [for t in var.image_task_repositories : "task-${t}"]))

  # Lambdas: which image, which handler, how much of everything.
  # The submitter and recorder images carry their handler as CMD; reconcile
  # runs the recorder image with a different command.
  functions = {
    submitter = {
      repository  = "submitter"
      command     = null
      description = "Overlord HTTP API: validate, claim the job in MongoDB, submit it to AWS Batch"
      timeout     = var.submitter_timeout
      memory_size = var.memory_size
      # budget.tf: a share of the MongoDB connection budget, when one is set.
      concurrency = local.budgeted ? local.submitter_budget_concurrency : var.submitter_reserved_concurrency
    }
    recorder = {
      repository  = "recorder"
      command     = null
      description = "Overlord recorder: Batch Job State Change events (SQS batches) into MongoDB"
      timeout     = var.recorder_timeout
      memory_size = var.memory_size
      concurrency = var.recorder_reserved_concurrency
    }
    reconcile = {
      repository  = "recorder"
      command     = ["overlord_recorder.handler.reconcile_handler"]
      description = "Overlord reconcile: repair jobs whose state-change events were lost"
      timeout     = var.reconcile_timeout
      memory_size = var.memory_size
      concurrency = var.reconcile_reserved_concurrency
    }
  }

  function_names = { for k in keys(local.functions) : k => "${var.name}-${k}" }

  in_vpc = length(var.vpc_subnet_ids) > 0

  # Every task's job definition, any revision, in one ARN: per-task ARNs (two each) outgrew
  # IAM's 10,240-character inline-policy quota at about 46 tasks. "<prefix>overlord-*", not
  # "<prefix>*": the prefix of environment "dev" (overlord-dev-) also begins the names
  # of environment "dev-2" (overlord-dev-2-overlord-<task>).
  job_definitions_arn = "arn:${local.partition}:batch:${local.region}:${local.account_id}:job-definition/${var.job_definition_prefix}overlord-*"

  job_log_streams_arn = "${var.job_log_group_arn}:log-stream:*"

  environment = {
    MONGODB_SECRET_ARN = var.mongodb_secret_arn
    DB_NAME            = var.db_name
    JOB_QUEUE          = var.job_queue_arn
    # A task's registered job definition = this prefix + its contract name (overlord-<task>).
    JOB_DEFINITION_PREFIX = var.job_definition_prefix
    RESULTS_BUCKET        = var.results_bucket_name
    LOG_LEVEL             = var.log_level
    # One request at a time per execution environment: a small pool (budget.tf).
    MONGODB_MAX_POOL_SIZE = tostring(var.mongodb_max_pool_size)
    # The OverlordDeployment tag's value on every job; the conditions below require it.
    OVERLORD_DEPLOYMENT = var.name
    # The job definitions carry the same var.tags (envs/dev passes local.tags to both
    # modules): Batch fails a job whose own and propagated tags exceed 50, so the
    # submitter caps a request's tags at 50 - this - 1.
    JOB_DEFINITION_TAG_COUNT = tostring(length(var.tags))
    # Image tasks with an image here: the catalogue's own name (overlord-wordcount:dev)
    # would be pulled from Docker Hub and fail after the 202, so the others get a 400.
    TASK_IMAGES = jsonencode(sort(var.deployed_task_images))
    # Metrics (EMF): namespace and the environment dimension (modules/monitoring reads the same).
    METRICS_NAMESPACE    = var.metrics_namespace
    OVERLORD_ENVIRONMENT = var.environment
  }
}

################################################################################
# ECR repositories (submitter, recorder, worker, task-<image task>)
################################################################################

resource "aws_ecr_repository" "this" {
  for_each = local.repositories

  name                 = "${var.name}/${each.key}"
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.ecr_force_delete

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = var.kms_key_arn == null ? "AES256" : "KMS"
    kms_key         = var.kms_key_arn
  }

  tags = var.tags
}

resource "aws_ecr_lifecycle_policy" "this" {
  for_each = local.repositories

  repository = aws_ecr_repository.this[each.key].name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Drop untagged images after a day"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = 1
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the last ${var.ecr_keep_images} images"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = var.ecr_keep_images
        }
        action = { type = "expire" }
      },
    ]
  })
}

################################################################################
# Dead-letter queue for asynchronous invocations (EventBridge, schedule)
################################################################################

resource "aws_sqs_queue" "dlq" {
  name                      = "${var.name}-lambda-dlq"
  message_retention_seconds = 1209600
  kms_master_key_id         = var.kms_key_arn
  sqs_managed_sse_enabled   = var.kms_key_arn == null ? true : null

  tags = var.tags
}

################################################################################
# Log groups
################################################################################

resource "aws_cloudwatch_log_group" "this" {
  for_each = local.functions

  name              = "/aws/lambda/${local.function_names[each.key]}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

################################################################################
# IAM - one role per function
################################################################################

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# What every function needs: its own log group, X-Ray, the DLQ, the MongoDB
# secret, the KMS key (environment variables, secret, SQS, S3) and, when
# attached to the VPC, its network interfaces.
data "aws_iam_policy_document" "common" {
  for_each = local.functions

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this[each.key].arn}:*"]
  }

  statement {
    # wildcard: X-Ray trace ingestion has no resource-level permissions
    sid       = "AwsRequiresWildcardXRay"
    actions   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    resources = ["*"]
  }

  statement {
    sid       = "DeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq.arn]
  }

  statement {
    sid       = "ReadMongoDbUri"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.mongodb_secret_arn]
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]

    content {
      sid       = "UseDataKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = local.in_vpc ? [1] : []

    content {
      # wildcard: EC2 network-interface calls Lambda makes for VPC attachment do not support resource-level permissions (Describe*) or name ENIs not yet created
      sid = "AwsRequiresWildcardVpcNetworkInterfaces"
      actions = [
        "ec2:AssignPrivateIpAddresses",
        "ec2:CreateNetworkInterface",
        "ec2:DeleteNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:UnassignPrivateIpAddresses",
      ]
      resources = ["*"]
    }
  }
}

data "aws_iam_policy_document" "submitter" {
  source_policy_documents = [data.aws_iam_policy_document.common["submitter"].json]

  statement {
    sid     = "SubmitJobs"
    actions = ["batch:SubmitJob"]
    resources = [
      var.job_queue_arn,
      "arn:${local.partition}:batch:${local.region}:${local.account_id}:job/*",
      local.job_definitions_arn,
    ]
  }

  statement {
    # Tags on submit are authorised as TagResource on the new job: only with our
    # deployment's tag among them, so every job this role creates can be told as ours.
    sid       = "TagOwnJobsOnSubmit"
    actions   = ["batch:TagResource"]
    resources = ["arn:${local.partition}:batch:${local.region}:${local.account_id}:job/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/OverlordDeployment"
      values   = [var.name]
    }
  }

  statement {
    # wildcard: batch:DescribeJobs and batch:ListJobs do not support resource-level permissions
    sid       = "AwsRequiresWildcardFindJobs"
    actions   = ["batch:DescribeJobs", "batch:ListJobs"]
    resources = ["*"]
  }

  statement {
    # POST /jobs/{job_id}/cancel: CancelJob before a run starts, TerminateJob after;
    # only of jobs this deployment submitted (job/* is every Batch job in the account).
    sid       = "CancelOwnJobs"
    actions   = ["batch:CancelJob", "batch:TerminateJob"]
    resources = ["arn:${local.partition}:batch:${local.region}:${local.account_id}:job/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/OverlordDeployment"
      values   = [var.name]
    }
  }

  statement {
    sid       = "LargeParameters"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${var.results_bucket_arn}/params/*"]
  }

  # GET /jobs/{job_id}/logs reads a running attempt's lines from its stream.
  statement {
    sid       = "ReadJobLogs"
    actions   = ["logs:GetLogEvents"]
    resources = [local.job_log_streams_arn]
  }
}

data "aws_iam_policy_document" "recorder" {
  source_policy_documents = [data.aws_iam_policy_document.common["recorder"].json]

  # Lambda's event source mapping polls the queue with the function's role.
  statement {
    sid       = "ReadEventQueue"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
    resources = [var.recorder_queue_arn]
  }

  statement {
    sid       = "ReadResults"
    actions   = ["s3:GetObject"]
    resources = ["${var.results_bucket_arn}/results/*"]
  }

  # HeadObject of a result that was never written (timeout, OOM, cancel) must answer
  # 404, not 403: S3 says 404 only to callers with s3:ListBucket on the bucket. No
  # s3:prefix condition: a HeadObject request has no s3:prefix key to match it.
  statement {
    sid       = "ProbeResults"
    actions   = ["s3:ListBucket"]
    resources = [var.results_bucket_arn]
  }

  statement {
    sid       = "ReadJobLogs"
    actions   = ["logs:GetLogEvents"]
    resources = [local.job_log_streams_arn]
  }
}

data "aws_iam_policy_document" "reconcile" {
  source_policy_documents = [data.aws_iam_policy_document.common["reconcile"].json]

  statement {
    # wildcard: batch:DescribeJobs and batch:ListJobs do not support resource-level permissions
    sid       = "AwsRequiresWildcardFindJobs"
    actions   = ["batch:DescribeJobs", "batch:ListJobs"]
    resources = ["*"]
  }

  statement {
    sid       = "ReadResults"
    actions   = ["s3:GetObject"]
    resources = ["${var.results_bucket_arn}/results/*"]
  }

  # HeadObject of a result that was never written (timeout, OOM, cancel) must answer
  # 404, not 403: S3 says 404 only to callers with s3:ListBucket on the bucket. No
  # s3:prefix condition: a HeadObject request has no s3:prefix key to match it.
  statement {
    sid       = "ProbeResults"
    actions   = ["s3:ListBucket"]
    resources = [var.results_bucket_arn]
  }

  statement {
    sid       = "ReadJobLogs"
    actions   = ["logs:GetLogEvents"]
    resources = [local.job_log_streams_arn]
  }
}

locals {
  policies = {
    submitter = data.aws_iam_policy_document.submitter.json
    recorder  = data.aws_iam_policy_document.recorder.json
    reconcile = data.aws_iam_policy_document.reconcile.json
  }
}

resource "aws_iam_role" "this" {
  for_each = local.functions

  name               = local.function_names[each.key]
  assume_role_policy = data.aws_iam_policy_document.assume.json

  tags = var.tags
}

resource "aws_iam_role_policy" "this" {
  for_each = local.functions

  name   = each.key
  role   = aws_iam_role.this[each.key].id
  policy = local.policies[each.key]
}

################################################################################
# Security group (only when attached to the VPC)
################################################################################

resource "aws_security_group" "this" {
  count = local.in_vpc ? 1 : 0

  name_prefix = "${var.name}-lambda-"
  description = "Overlord Lambdas: HTTPS and MongoDB out only"
  vpc_id      = var.vpc_id

  egress {
    description = "HTTPS to AWS APIs"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  egress {
    description = "MongoDB"
    from_port   = var.mongodb_port
    to_port     = var.mongodb_port
    protocol    = "tcp"
    cidr_blocks = var.mongodb_cidr_blocks
  }

  tags = merge(var.tags, { Name = "${var.name}-lambda" })

  lifecycle {
    create_before_destroy = true
  }
}

################################################################################
# Functions
################################################################################

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_272:Code signing applies to .zip packages only; these are container images (immutable tags, scanned in ECR)
  #checkov:skip=CKV_AWS_117:VPC attachment is optional (vpc_subnet_ids): by default the functions reach MongoDB Atlas over TLS without a NAT gateway
  for_each = local.functions

  function_name = local.function_names[each.key]
  description   = each.value.description
  role          = aws_iam_role.this[each.key].arn
  package_type  = "Image"
  image_uri     = "${aws_ecr_repository.this[each.value.repository].repository_url}:${var.image_tag}"
  architectures = [var.architecture]
  timeout       = each.value.timeout
  memory_size   = each.value.memory_size

  # null: unreserved. Reservations come out of the account's concurrency quota, and
  # Lambda refuses any that would leave fewer than 10 unreserved (new accounts: 10 in all).
  reserved_concurrent_executions = each.value.concurrency
  kms_key_arn                    = var.kms_key_arn

  dynamic "image_config" {
    for_each = each.value.command == null ? [] : [each.value.command]

    content {
      command = image_config.value
    }
  }

  environment {
    variables = merge(local.environment, { POWERTOOLS_SERVICE_NAME = "overlord-${each.key}" })
  }

  tracing_config {
    mode = "Active"
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.dlq.arn
  }

  dynamic "vpc_config" {
    for_each = local.in_vpc ? [1] : []

    content {
      subnet_ids         = var.vpc_subnet_ids
      security_group_ids = [aws_security_group.this[0].id]
    }
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.this[each.key].name
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.this]
}

# The recorder reads the Batch events' queue in batches. A message it names in
# batchItemFailures (or the whole batch, when it fails) comes back after the queue's
# visibility timeout, and goes to the queue's DLQ after maxReceiveCount receives.
resource "aws_lambda_event_source_mapping" "recorder" {
  event_source_arn                   = var.recorder_queue_arn
  function_name                      = aws_lambda_function.this["recorder"].arn
  batch_size                         = var.recorder_batch_size
  maximum_batching_window_in_seconds = var.recorder_batching_window_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  scaling_config {
    # budget.tf: what the MongoDB connection budget leaves the recorder.
    maximum_concurrency = local.connection_plan.recorder_maximum_concurrency
  }

  tags = var.tags
}

# Retries of asynchronous invocations (the reconcile schedule) before the event goes
# to the DLQ. The recorder is invoked by its event source mapping, synchronously.
resource "aws_lambda_function_event_invoke_config" "this" {
  for_each = toset(["reconcile"])

  function_name                = aws_lambda_function.this[each.key].function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 3600
}
