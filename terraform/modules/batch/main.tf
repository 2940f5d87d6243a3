data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  fargate = contains(["FARGATE", "FARGATE_SPOT"], var.compute_type)

  # The one place job definitions are written down, shared with the local Batch
  # (RegisterJobDefinition shape, camelCase). Terraform adds what depends on the
  # environment: image, roles, logging and Fargate networking.
  job_definitions = jsondecode(file("${path.module}/../../../contracts/job-definitions.json"))

  # AWS Batch's default group; the recorder reads job logs from here.
  log_group_name = "/aws/batch/job"
  log_group_arn  = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"

  worker_environment = merge(var.worker_environment, { RESULTS_BUCKET = var.results_bucket_name })

  # Registered names carry the environment (overlord-<env>-<entry>), so two environments
  # in one account never add revisions to each other's definitions.
  job_definition_names = { for name in keys(local.job_definitions) : name => "${var.name}-${name}" }

  container_properties = {
    for name, definition in local.job_definitions : name => merge(
      definition.containerProperties,
      {
        image            = var.worker_image_uri
        executionRoleArn = aws_iam_role.execution.arn
        jobRoleArn       = aws_iam_role.job.arn

        environment = concat(
          [for e in try(definition.containerProperties.environment, []) : e if !contains(keys(local.worker_environment), e.name)],
          [for k in sort(keys(local.worker_environment)) : { name = k, value = local.worker_environment[k] }],
        )

        # Fargate takes fractional vCPUs (0.25, 0.5, ...); EC2 needs whole ones.
        resourceRequirements = [
          for r in definition.containerProperties.resourceRequirements :
          r.type == "VCPU" && !local.fargate ? { type = r.type, value = tostring(ceil(tonumber(r.value))) } : r
        ]

        logConfiguration = {
          logDriver = "awslogs"
          options = merge(
            {
              "awslogs-group"  = local.log_group_name
              "awslogs-region" = local.region
              # Batch's default prefix: streams are <definition name>/default/<task id>.
              "awslogs-stream-prefix" = local.job_definition_names[name]
            },
            # Group not managed here: the first task creates it if it does not exist.
            var.create_log_group ? {} : { "awslogs-create-group" = "true" },
          )
        }
      },
      # Fargate-only keys; the JSON round trip lets both branches have different shapes.
      jsondecode(local.fargate ? jsonencode({
        fargatePlatformConfiguration = { platformVersion = var.fargate_platform_version }
        networkConfiguration         = { assignPublicIp = var.assign_public_ip ? "ENABLED" : "DISABLED" }
      }) : "{}"),
    )
  }
}

################################################################################
# Job log group
################################################################################

# AWS Batch's default group, shared by every job in the account and region: not
# created by default (create_log_group), and never destroyed by Terraform when it is.
resource "aws_cloudwatch_log_group" "this" {
  count = var.create_log_group ? 1 : 0

  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags

  # Other stacks' jobs log here too. Before `terraform destroy`:
  #   terraform state rm 'module.batch.aws_cloudwatch_log_group.this[0]'
  lifecycle {
    prevent_destroy = true
  }
}

################################################################################
# Compute environment and job queue
################################################################################

resource "aws_security_group" "this" {
  name_prefix = "${var.name}-batch-"
  description = "Overlord Batch tasks: HTTPS out only"
  vpc_id      = var.vpc_id

  egress {
    description = "HTTPS to ECR, S3, CloudWatch Logs and STS"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = merge(var.tags, { Name = "${var.name}-batch" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_batch_compute_environment" "this" {
  compute_environment_name_prefix = "${var.name}-${lower(var.compute_type)}-"
  type                            = "MANAGED"
  # No service_role: Batch uses its service-linked role AWSServiceRoleForBatch (created
  # on first use). A role created in the same apply may not have propagated when Batch
  # validates it, leaving the environment INVALID (terraform-provider-aws #37945).

  compute_resources {
    type               = var.compute_type
    max_vcpus          = var.max_vcpus
    subnets            = var.subnet_ids
    security_group_ids = [aws_security_group.this.id]

    # EC2 / Spot only
    min_vcpus           = local.fargate ? null : var.min_vcpus
    instance_type       = local.fargate ? null : var.instance_types
    instance_role       = local.fargate ? null : aws_iam_instance_profile.instance[0].arn
    allocation_strategy = local.fargate ? null : (var.compute_type == "SPOT" ? "SPOT_PRICE_CAPACITY_OPTIMIZED" : "BEST_FIT_PROGRESSIVE")
    bid_percentage      = var.compute_type == "SPOT" ? var.spot_bid_percentage : null
    spot_iam_fleet_role = var.compute_type == "SPOT" ? aws_iam_role.spot_fleet[0].arn : null
  }

  tags = var.tags

  # The queue points at the environment: replace it by creating the new one first.
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_batch_job_queue" "this" {
  name     = var.name
  state    = "ENABLED"
  priority = var.job_queue_priority

  compute_environment_order {
    order               = 1
    compute_environment = aws_batch_compute_environment.this.arn
  }

  tags = var.tags
}

################################################################################
# Job definitions - one per entry of contracts/job-definitions.json
################################################################################

resource "aws_batch_job_definition" "this" {
  for_each = local.job_definitions

  name                  = "${var.name}-${each.key}"
  type                  = each.value.type
  platform_capabilities = [local.fargate ? "FARGATE" : "EC2"]
  propagate_tags        = try(each.value.propagateTags, false)
  container_properties  = jsonencode(local.container_properties[each.key])

  dynamic "retry_strategy" {
    for_each = can(each.value.retryStrategy) ? [each.value.retryStrategy] : []

    content {
      attempts = retry_strategy.value.attempts

      dynamic "evaluate_on_exit" {
        for_each = try(retry_strategy.value.evaluateOnExit, [])

        content {
          action           = evaluate_on_exit.value.action
          on_exit_code     = try(evaluate_on_exit.value.onExitCode, null)
          on_reason        = try(evaluate_on_exit.value.onReason, null)
          on_status_reason = try(evaluate_on_exit.value.onStatusReason, null)
        }
      }
    }
  }

  dynamic "timeout" {
    for_each = can(each.value.timeout.attemptDurationSeconds) ? [each.value.timeout] : []

    content {
      attempt_duration_seconds = timeout.value.attemptDurationSeconds
    }
  }

  tags = var.tags
}

################################################################################
# Execution role (ECS agent: pull the image, write the log stream)
################################################################################

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-batch-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json

  tags = var.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    # wildcard: ecr:GetAuthorizationToken has no resource-level permissions
    sid       = "AwsRequiresWildcardEcrAuthorizationToken"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid = "PullWorkerImage"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = [var.worker_repository_arn]
  }

  statement {
    sid       = "WriteJobLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group_arn}:log-stream:*"]
  }

  # awslogs-create-group, when the group is not created here.
  dynamic "statement" {
    for_each = var.create_log_group ? [] : [1]

    content {
      sid       = "CreateJobLogGroup"
      actions   = ["logs:CreateLogGroup"]
      resources = [local.log_group_arn, "${local.log_group_arn}:*"]
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "pull-image-write-logs"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

################################################################################
# Job role (what the worker's code may do)
################################################################################

resource "aws_iam_role" "job" {
  name               = "${var.name}-batch-job"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json

  tags = var.tags
}

data "aws_iam_policy_document" "job" {
  statement {
    sid     = "ReadParametersAndInputs"
    actions = ["s3:GetObject"]
    resources = concat(
      [
        "${var.results_bucket_arn}/params/*",
        "${var.results_bucket_arn}/inputs/*",
      ],
      [for arn in var.input_bucket_arns : "${arn}/*"],
    )
  }

  statement {
    sid       = "WriteResults"
    actions   = ["s3:PutObject"]
    resources = ["${var.results_bucket_arn}/results/*"]
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]

    content {
      sid       = "UseDataKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "job" {
  name   = "worker"
  role   = aws_iam_role.job.id
  policy = data.aws_iam_policy_document.job.json
}

################################################################################
# EC2 / Spot only: container instance role and Spot Fleet role
################################################################################

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "instance" {
  count = local.fargate ? 0 : 1

  name               = "${var.name}-batch-instance"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "instance" {
  count = local.fargate ? 0 : 1

  role       = aws_iam_role.instance[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
}

resource "aws_iam_instance_profile" "instance" {
  count = local.fargate ? 0 : 1

  name = "${var.name}-batch-instance"
  role = aws_iam_role.instance[0].name

  tags = var.tags
}

data "aws_iam_policy_document" "spot_fleet_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["spotfleet.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "spot_fleet" {
  count = var.compute_type == "SPOT" ? 1 : 0

  name               = "${var.name}-batch-spot-fleet"
  assume_role_policy = data.aws_iam_policy_document.spot_fleet_assume.json

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "spot_fleet" {
  count = var.compute_type == "SPOT" ? 1 : 0

  role       = aws_iam_role.spot_fleet[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonEC2SpotFleetTaggingRole"
}
