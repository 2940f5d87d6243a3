data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  # Every product metric carries these two dimensions (src/overlord/adapters/metrics.py).
  dimensions = { service = var.service, environment = var.environment }

  # Alarms on the product's own metrics. Each names one metric; the metric coverage test
  # (tests/infra/test_metric_coverage.py) checks that a tested path emits it.
  product_alarms = {
    event_lag_p99 = {
      metric             = "EventLag"
      statistic          = null
      extended_statistic = "p99"
      period             = 300
      evaluation_periods = 3
      threshold          = var.event_lag_p99_milliseconds
      treat_missing_data = "notBreaching"
      description        = "Batch events reach MongoDB late: p99 of event time -> recorded above ${var.event_lag_p99_milliseconds} ms for 15 minutes (docs/operations.md#event-lag)"
    }
    reconcile_repairs = {
      metric             = "ReconcileRepairs"
      statistic          = "Sum"
      extended_statistic = null
      period             = 3600
      evaluation_periods = 1
      threshold          = var.reconcile_repairs_per_hour
      treat_missing_data = "notBreaching"
      description        = "Reconcile repaired more than ${var.reconcile_repairs_per_hour} things in an hour: events or submissions are being lost (docs/operations.md#reconcile-repairs)"
    }
    jobs_stuck_in_flight = {
      metric             = "JobsStuckInFlight"
      statistic          = "Minimum"
      extended_statistic = null
      period             = var.reconcile_period_seconds
      evaluation_periods = max(2, ceil(1800 / var.reconcile_period_seconds))
      threshold          = var.stuck_jobs_threshold
      # Reconcile reports every pass; no data means it is not running (its own errors alarm).
      treat_missing_data = "missing"
      description        = "Jobs stay in flight past reconcile's threshold on every pass for 30 minutes (docs/operations.md#jobs-stuck-in-flight)"
    }
  }

  # The dashboard's widgets of product metrics: `metrics` with the two dimensions only,
  # `search` a metric with one more dimension (`by`), drawn one line per value.
  product_widgets = [
    { title = "Submissions", stat = "Sum", metrics = ["SubmissionsCreated", "SubmissionsDeduplicated"], search = "SubmissionsRefused", by = "reason" },
    { title = "SubmitJob latency (p99)", stat = "p99", metrics = ["SubmitJobLatency"], search = null, by = null },
    { title = "SubmitJob throttled", stat = "Sum", metrics = ["SubmitJobThrottled"], search = null, by = null },
    { title = "Array children submitted", stat = "Sum", metrics = ["ArrayChildrenSubmitted"], search = null, by = null },
    { title = "Batch events", stat = "Sum", metrics = ["EventsRecorded", "EventsStale", "EventsNotOurs"], search = null, by = null },
    { title = "Event lag (p99, ms)", stat = "p99", metrics = ["EventLag"], search = null, by = null },
    { title = "Log lines copied / streams truncated", stat = "Sum", metrics = ["LogLinesCopied", "LogStreamsTruncated"], search = null, by = null },
    { title = "Jobs ended, by status", stat = "Sum", metrics = [], search = "JobsEnded", by = "status" },
    { title = "Reconcile repairs, by kind", stat = "Sum", metrics = ["ReconcileRepairs"], search = "ReconcileRepairsByKind", by = "kind" },
    { title = "Jobs stuck in flight", stat = "Maximum", metrics = ["JobsStuckInFlight"], search = null, by = null },
    { title = "Cold starts, by function", stat = "Sum", metrics = [], search = "ColdStart", by = "function" },
  ]

  product_widget_bodies = [
    for w in local.product_widgets : {
      type = "metric"
      properties = {
        title  = w.title
        region = local.region
        view   = "timeSeries"
        stat   = w.stat
        period = 300
        metrics = concat(
          [for m in w.metrics : [var.metrics_namespace, m, "service", var.service, "environment", var.environment]],
          w.search == null ? [] : [[{
            id         = "search"
            expression = "SEARCH('{${var.metrics_namespace},environment,service,${w.by}} MetricName=\"${w.search}\" environment=\"${var.environment}\" service=\"${var.service}\"', '${w.stat}', 300)"
          }]],
        )
      }
    }
  ]

  aws_widget_bodies = [
    {
      type = "metric"
      properties = {
        title   = "Dead-letter queues (messages visible)"
        region  = local.region
        view    = "timeSeries"
        stat    = "Maximum"
        period  = 300
        metrics = [for k, q in var.dead_letter_queue_names : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q, { label = k }]]
      }
    },
    {
      type = "metric"
      properties = {
        title  = "Lambda errors and throttles"
        region = local.region
        view   = "timeSeries"
        stat   = "Sum"
        period = 300
        metrics = concat(
          [for k, f in var.function_names : ["AWS/Lambda", "Errors", "FunctionName", f, { label = "${k} errors" }]],
          [for k, f in var.function_names : ["AWS/Lambda", "Throttles", "FunctionName", f, { label = "${k} throttles" }]],
        )
      }
    },
    {
      type = "metric"
      properties = {
        title  = "API requests, 4xx, 5xx"
        region = local.region
        view   = "timeSeries"
        stat   = "Sum"
        period = 300
        metrics = [
          ["AWS/ApiGateway", "Count", "ApiId", var.api_id],
          ["AWS/ApiGateway", "4xx", "ApiId", var.api_id],
          ["AWS/ApiGateway", "5xx", "ApiId", var.api_id],
        ]
      }
    },
    {
      type = "alarm"
      properties = {
        title  = "Alarms"
        alarms = local.alarm_arns
      }
    },
  ]

  widgets = concat(local.aws_widget_bodies, local.product_widget_bodies)

  alarm_arns = concat(
    [for a in aws_cloudwatch_metric_alarm.dlq_depth : a.arn],
    [for a in aws_cloudwatch_metric_alarm.lambda_errors : a.arn],
    [for a in aws_cloudwatch_metric_alarm.lambda_throttles : a.arn],
    [for a in aws_cloudwatch_metric_alarm.product : a.arn],
    [aws_cloudwatch_metric_alarm.api_5xx_rate.arn],
  )

  topic_key_arn = var.kms_key_arn != null ? var.kms_key_arn : aws_kms_key.alarms[0].arn
}

################################################################################
# Alarm topic: encrypted with a customer managed key CloudWatch may use (an AWS
# managed key's policy cannot be changed, and CloudWatch could not publish)
################################################################################

resource "aws_kms_key" "alarms" {
  count = var.kms_key_arn == null ? 1 : 0

  description             = "Overlord (${var.name}) alarm topic"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.alarms_key[0].json

  tags = var.tags
}

data "aws_iam_policy_document" "alarms_key" {
  #checkov:skip=CKV_AWS_109:Key policy - "*" resource means this key only; administration is delegated to IAM in the account
  #checkov:skip=CKV_AWS_111:Key policy - "*" resource means this key only
  #checkov:skip=CKV_AWS_356:Key policy - "*" resource means this key only
  count = var.kms_key_arn == null ? 1 : 0

  statement {
    # wildcard: in a key policy "*" is the key the policy is attached to
    sid    = "AwsRequiresWildcardAccountAdministration"
    effect = "Allow"
    actions = [
      "kms:Cancel*",
      "kms:Create*",
      "kms:Decrypt",
      "kms:Delete*",
      "kms:Describe*",
      "kms:Disable*",
      "kms:Enable*",
      "kms:Encrypt",
      "kms:GenerateDataKey*",
      "kms:Get*",
      "kms:List*",
      "kms:Put*",
      "kms:ReEncrypt*",
      "kms:RetireGrant",
      "kms:Revoke*",
      "kms:RotateKeyOnDemand",
      "kms:ScheduleKeyDeletion",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:Update*",
    ]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    # wildcard: in a key policy "*" is the key the policy is attached to
    sid       = "AwsRequiresWildcardCloudWatchAlarms"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = local.topic_key_arn

  tags = var.tags
}

data "aws_iam_policy_document" "topic" {
  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  arn    = aws_sns_topic.alarms.arn
  policy = data.aws_iam_policy_document.topic.json
}

resource "aws_sns_topic_subscription" "email" {
  count = var.alarm_email == null ? 0 : 1

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

################################################################################
# Alarms: dead-letter queues, Lambda errors and throttles, API 5xx rate
################################################################################

resource "aws_cloudwatch_metric_alarm" "dlq_depth" {
  for_each = var.dead_letter_queue_names

  alarm_name          = "${var.name}-dlq-${each.key}"
  alarm_description   = "Messages in the ${each.key} dead-letter queue ${each.value}: deliveries failed for good (docs/operations.md#dead-letter-queue)"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  for_each = var.function_names

  alarm_name          = "${var.name}-${each.key}-errors"
  alarm_description   = "The ${each.key} Lambda raised (docs/operations.md#lambda-errors)"
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "lambda_throttles" {
  for_each = var.function_names

  alarm_name          = "${var.name}-${each.key}-throttles"
  alarm_description   = "Lambda throttled the ${each.key} function: its concurrency is exhausted (docs/operations.md#lambda-throttles)"
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "api_5xx_rate" {
  alarm_name          = "${var.name}-api-5xx-rate"
  alarm_description   = "More than ${var.api_5xx_rate_percent}% of API requests answered 5xx over 5 minutes (docs/operations.md#api-5xx-rate)"
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.api_5xx_rate_percent
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  metric_query {
    id          = "rate"
    expression  = "IF(requests > 0, 100 * errors / requests, 0)"
    label       = "5xx (% of requests)"
    return_data = true
  }

  metric_query {
    id = "errors"

    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "5xx"
      dimensions  = { ApiId = var.api_id }
      stat        = "Sum"
      period      = 300
    }
  }

  metric_query {
    id = "requests"

    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "Count"
      dimensions  = { ApiId = var.api_id }
      stat        = "Sum"
      period      = 300
    }
  }

  tags = var.tags
}

################################################################################
# Alarms on the product's metrics (EMF): event lag, reconcile repairs, stuck jobs
################################################################################

resource "aws_cloudwatch_metric_alarm" "product" {
  for_each = local.product_alarms

  alarm_name          = "${var.name}-${replace(each.key, "_", "-")}"
  alarm_description   = each.value.description
  namespace           = var.metrics_namespace
  metric_name         = each.value.metric
  dimensions          = local.dimensions
  statistic           = each.value.statistic
  extended_statistic  = each.value.extended_statistic
  period              = each.value.period
  evaluation_periods  = each.value.evaluation_periods
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.threshold
  treat_missing_data  = each.value.treat_missing_data
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  tags = var.tags
}

################################################################################
# Dashboard
################################################################################

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({
    widgets = [
      for i, w in local.widgets : merge(w, {
        x      = (i % 2) * 12
        y      = floor(i / 2) * 6
        width  = 12
        height = 6
      })
    ]
  })
}

################################################################################
# Logs Insights saved queries
################################################################################

resource "aws_cloudwatch_query_definition" "job" {
  name            = "${var.name}/everything-about-a-job"
  log_group_names = var.log_group_names

  # Replace job-REPLACE_ME with the job_id (or a batch_job_id): every line that names
  # it, from the submitter, the recorder, reconcile and the job's own container.
  query_string = <<-EOT
    fields @timestamp, @log, level, message, job_id, batch_job_id, status, reason
    | filter @message like "job-REPLACE_ME"
    | sort @timestamp asc
    | limit 10000
  EOT
}

resource "aws_cloudwatch_query_definition" "problems" {
  name            = "${var.name}/warnings-and-errors"
  log_group_names = var.log_group_names

  query_string = <<-EOT
    filter level in ["WARNING", "ERROR", "CRITICAL"] or ispresent(errorMessage)
    | stats count(*) as lines, latest(reason) as last_reason by service, message
    | sort lines desc
  EOT
}

resource "aws_cloudwatch_query_definition" "reconcile" {
  name            = "${var.name}/reconcile-passes"
  log_group_names = var.log_group_names

  query_string = <<-EOT
    fields @timestamp, checked, moved.0, adopted.0, submit_failed.0, unknown_to_batch.0, late_log_lines, children_repaired
    | filter message = "reconciled"
    | sort @timestamp desc
    | limit 200
  EOT
}
