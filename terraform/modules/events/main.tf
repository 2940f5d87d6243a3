locals {
  targets = {
    batch_state = {
      rule_name     = aws_cloudwatch_event_rule.batch_state.name
      rule_arn      = aws_cloudwatch_event_rule.batch_state.arn
      function_name = var.recorder_function_name
      function_arn  = var.recorder_function_arn
    }
    reconcile = {
      rule_name     = aws_cloudwatch_event_rule.reconcile.name
      rule_arn      = aws_cloudwatch_event_rule.reconcile.arn
      function_name = var.reconcile_function_name
      function_arn  = var.reconcile_function_arn
    }
  }
}

################################################################################
# Rules
################################################################################

# The pattern is shared with the local event router, which fills the same
# ${job_queue_arn} placeholder with Python's string.Template.
resource "aws_cloudwatch_event_rule" "batch_state" {
  name        = "${var.name}-batch-job-state-change"
  description = "Batch Job State Change events of the Overlord job queue -> recorder"
  event_pattern = templatefile("${path.module}/../../../contracts/batch-event-pattern.json", {
    job_queue_arn = var.job_queue_arn
  })

  tags = var.tags
}

resource "aws_cloudwatch_event_rule" "reconcile" {
  name                = "${var.name}-reconcile"
  description         = "Periodic reconcile of jobs whose state-change events were lost"
  schedule_expression = var.reconcile_schedule_expression
  state               = var.reconcile_enabled ? "ENABLED" : "DISABLED"

  tags = var.tags
}

################################################################################
# Targets: retry policy, then the dead-letter queue
################################################################################

resource "aws_cloudwatch_event_target" "this" {
  for_each = local.targets

  rule      = each.value.rule_name
  target_id = replace(each.key, "_", "-")
  arn       = each.value.function_arn

  retry_policy {
    maximum_event_age_in_seconds = var.maximum_event_age_in_seconds
    maximum_retry_attempts       = var.maximum_retry_attempts
  }

  dead_letter_config {
    arn = aws_sqs_queue.dlq.arn
  }
}

resource "aws_lambda_permission" "this" {
  for_each = local.targets

  statement_id  = "AllowEventBridge-${replace(each.key, "_", "-")}"
  action        = "lambda:InvokeFunction"
  function_name = each.value.function_name
  principal     = "events.amazonaws.com"
  source_arn    = each.value.rule_arn
}

################################################################################
# Dead-letter queue for events EventBridge could not deliver
################################################################################

resource "aws_sqs_queue" "dlq" {
  name                      = "${var.name}-events-dlq"
  message_retention_seconds = 1209600
  kms_master_key_id         = var.kms_key_arn
  sqs_managed_sse_enabled   = var.kms_key_arn == null ? true : null

  tags = var.tags
}

data "aws_iam_policy_document" "dlq" {
  statement {
    sid       = "AllowEventBridgeRules"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq.arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [for t in local.targets : t.rule_arn]
    }
  }
}

resource "aws_sqs_queue_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  policy    = data.aws_iam_policy_document.dlq.json
}
