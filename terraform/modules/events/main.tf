locals {
  # The Batch rule's target is the events queue (below): the recorder reads it in
  # batches through its event source mapping (functions module). The reconcile
  # schedule invokes its Lambda directly.
  targets = {
    batch_state = {
      rule_name = aws_cloudwatch_event_rule.batch_state.name
      rule_arn  = aws_cloudwatch_event_rule.batch_state.arn
      arn       = aws_sqs_queue.batch_events.arn
    }
    reconcile = {
      rule_name = aws_cloudwatch_event_rule.reconcile.name
      rule_arn  = aws_cloudwatch_event_rule.reconcile.arn
      arn       = var.reconcile_function_arn
    }
  }

  # AWS: at least six times the function's timeout, so that a batch still being
  # processed (retries of throttled invocations included) is not handed out again.
  visibility_timeout_seconds = max(6 * var.recorder_timeout_seconds, var.minimum_visibility_timeout_seconds)
}

################################################################################
# Rules
################################################################################

# The pattern is shared with the local event router, which fills the same
# ${job_queue_arn} placeholder with Python's string.Template.
resource "aws_cloudwatch_event_rule" "batch_state" {
  name        = "${var.name}-batch-job-state-change"
  description = "Batch Job State Change events of the Overlord job queue -> events queue -> recorder"
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
  arn       = each.value.arn

  retry_policy {
    maximum_event_age_in_seconds = var.maximum_event_age_in_seconds
    maximum_retry_attempts       = var.maximum_retry_attempts
  }

  dead_letter_config {
    arn = aws_sqs_queue.dlq.arn
  }
}

resource "aws_lambda_permission" "reconcile" {
  statement_id  = "AllowEventBridge-reconcile"
  action        = "lambda:InvokeFunction"
  function_name = var.reconcile_function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.reconcile.arn
}

################################################################################
# The Batch events' queue, read by the recorder's event source mapping, and its
# dead-letter queue (messages the recorder failed maxReceiveCount times)
################################################################################

resource "aws_sqs_queue" "batch_events" {
  name                       = "${var.name}-batch-events"
  visibility_timeout_seconds = local.visibility_timeout_seconds
  message_retention_seconds  = var.message_retention_seconds
  kms_master_key_id          = var.kms_key_arn
  sqs_managed_sse_enabled    = var.kms_key_arn == null ? true : null

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.batch_events_dlq.arn
    maxReceiveCount     = var.max_receive_count
  })

  tags = var.tags
}

resource "aws_sqs_queue" "batch_events_dlq" {
  name                      = "${var.name}-batch-events-dlq"
  message_retention_seconds = 1209600
  kms_master_key_id         = var.kms_key_arn
  sqs_managed_sse_enabled   = var.kms_key_arn == null ? true : null

  tags = var.tags
}

# Only the events queue may dead-letter into it.
resource "aws_sqs_queue_redrive_allow_policy" "batch_events_dlq" {
  queue_url = aws_sqs_queue.batch_events_dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.batch_events.arn]
  })
}

# Only the Batch rule may send to the queue.
data "aws_iam_policy_document" "batch_events" {
  statement {
    sid       = "AllowBatchStateRule"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.batch_events.arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.batch_state.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "batch_events" {
  queue_url = aws_sqs_queue.batch_events.id
  policy    = data.aws_iam_policy_document.batch_events.json
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
