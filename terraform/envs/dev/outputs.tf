output "api_url" {
  description = "Base URL of the HTTP API (SigV4, service execute-api)"
  value       = module.api.api_url
}

output "api_execution_arn" {
  description = "For callers' IAM policies: execute-api:Invoke on <arn>/*/*"
  value       = module.api.execution_arn
}

output "ecr_repository_urls" {
  description = "Where to push the submitter, recorder and worker images, and each image task's (task-<task>)"
  value       = module.functions.repository_urls
}

output "job_queue_arn" {
  description = "ARN of the Batch job queue"
  value       = module.batch.job_queue_arn
}

output "job_definition_names" {
  description = "Registered job definitions"
  value       = module.batch.job_definition_names
}

output "mongodb_secret_arn" {
  description = "Set the MongoDB URI with: aws secretsmanager put-secret-value --secret-id <this> --secret-string ..."
  value       = module.secrets.mongodb_secret_arn
}

output "results_bucket" {
  description = "Results bucket (RESULTS_BUCKET)"
  value       = module.storage.bucket_name
}

output "function_names" {
  description = "Lambda function names"
  value       = module.functions.function_names
}

output "dead_letter_queue_arns" {
  description = "Where failed deliveries end up: EventBridge targets, events the recorder kept failing, Lambda async invokes"
  value = {
    events   = module.events.dead_letter_queue_arn
    recorder = module.events.queue_dlq_arn
    lambdas  = module.functions.dead_letter_queue_arn
  }
}

output "events_queue" {
  description = "The Batch events queue the recorder reads, and its dead-letter queue (names for alarms)"
  value = {
    name     = module.events.queue_name
    arn      = module.events.queue_arn
    dlq_name = module.events.queue_dlq_name
    dlq_arn  = module.events.queue_dlq_arn
  }
}

output "mongodb_connection_plan" {
  description = "The MongoDB connection budget shared out among the Lambdas"
  value       = module.functions.connection_plan
}

output "nat_gateway_public_ip" {
  description = "NAT gateway public IP to allow-list in MongoDB Atlas (null without NAT)"
  value       = module.network.nat_gateway_public_ip
}

output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies (subscribe more endpoints here)"
  value       = module.monitoring.alarm_topic_arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard"
  value       = module.monitoring.dashboard_name
}
