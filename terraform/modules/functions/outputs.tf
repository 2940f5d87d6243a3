output "repository_urls" {
  description = "ECR repository URLs: submitter, recorder, worker, task-<image task>"
  value       = { for k, v in aws_ecr_repository.this : k => v.repository_url }
}

output "repository_arns" {
  description = "ECR repository ARNs: submitter, recorder, worker, task-<image task>"
  value       = { for k, v in aws_ecr_repository.this : k => v.arn }
}

output "function_names" {
  description = "Lambda function names: submitter, recorder, reconcile"
  value       = { for k, v in aws_lambda_function.this : k => v.function_name }
}

output "function_arns" {
  description = "Lambda function ARNs: submitter, recorder, reconcile"
  value       = { for k, v in aws_lambda_function.this : k => v.arn }
}

output "function_invoke_arns" {
  description = "Lambda invoke ARNs (for API Gateway): submitter, recorder, reconcile"
  value       = { for k, v in aws_lambda_function.this : k => v.invoke_arn }
}

output "role_arns" {
  description = "IAM role ARNs: submitter, recorder, reconcile"
  value       = { for k, v in aws_iam_role.this : k => v.arn }
}

output "dead_letter_queue_arn" {
  description = "SQS queue collecting failed asynchronous invocations"
  value       = aws_sqs_queue.dlq.arn
}

output "recorder_timeout" {
  description = "Timeout (s) of the recorder, for the events queue's visibility timeout"
  value       = var.recorder_timeout
}

output "recorder_event_source_mapping_uuid" {
  description = "The recorder's event source mapping on the events queue"
  value       = aws_lambda_event_source_mapping.recorder.uuid
}

output "connection_plan" {
  description = "The MongoDB connection budget shared out: connections per environment, environments, submitter reserved concurrency, recorder maximum concurrency, peak connections"
  value       = local.connection_plan
}

output "dead_letter_queue_name" {
  description = "Name of the queue collecting failed asynchronous invocations"
  value       = aws_sqs_queue.dlq.name
}

output "log_group_names" {
  description = "The functions' log groups: submitter, recorder, reconcile"
  value       = { for k, v in aws_cloudwatch_log_group.this : k => v.name }
}
