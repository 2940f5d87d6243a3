output "batch_state_rule_arn" {
  description = "ARN of the Batch Job State Change rule"
  value       = aws_cloudwatch_event_rule.batch_state.arn
}

output "reconcile_rule_arn" {
  description = "ARN of the reconcile schedule rule"
  value       = aws_cloudwatch_event_rule.reconcile.arn
}

output "dead_letter_queue_arn" {
  description = "SQS queue collecting events EventBridge could not deliver"
  value       = aws_sqs_queue.dlq.arn
}

output "dead_letter_queue_url" {
  description = "URL of the events dead-letter queue"
  value       = aws_sqs_queue.dlq.id
}

output "dead_letter_queue_name" {
  description = "Name of the events dead-letter queue"
  value       = aws_sqs_queue.dlq.name
}
