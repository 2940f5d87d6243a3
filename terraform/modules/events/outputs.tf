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

output "queue_name" {
  description = "SQS queue of Batch Job State Change events the recorder reads (alarm on its age of oldest message)"
  value       = aws_sqs_queue.batch_events.name
}

output "queue_arn" {
  description = "ARN of the Batch events queue"
  value       = aws_sqs_queue.batch_events.arn
}

output "queue_url" {
  description = "URL of the Batch events queue"
  value       = aws_sqs_queue.batch_events.id
}

output "queue_dlq_name" {
  description = "Dead-letter queue of the Batch events queue (messages the recorder failed max_receive_count times; alarm on any)"
  value       = aws_sqs_queue.batch_events_dlq.name
}

output "queue_dlq_arn" {
  description = "ARN of the Batch events queue's dead-letter queue"
  value       = aws_sqs_queue.batch_events_dlq.arn
}

output "dead_letter_queue_name" {
  description = "Dead-letter queue of events EventBridge could not deliver (alarm on any)"
  value       = aws_sqs_queue.dlq.name
}

output "alarm_queue_names" {
  description = "Every dead-letter queue of the events path by role, for the monitoring module's alarms"
  value = {
    delivery = aws_sqs_queue.dlq.name
    recorder = aws_sqs_queue.batch_events_dlq.name
  }
}
