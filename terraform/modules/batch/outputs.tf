output "job_queue_arn" {
  description = "ARN of the job queue"
  value       = aws_batch_job_queue.this.arn
}

output "job_queue_name" {
  description = "Name of the job queue (JOB_QUEUE)"
  value       = aws_batch_job_queue.this.name
}

output "job_definition_prefix" {
  description = "What the entries of job-definitions.json are prefixed with to make the registered names"
  value       = "${var.name}-"
}

output "job_definition_names" {
  description = "Registered job definition names (<name>-<entry>), keyed by their entry in job-definitions.json"
  value       = { for k, v in aws_batch_job_definition.this : k => v.name }
}

output "job_definition_arns" {
  description = "Job definition ARNs (latest revision), keyed by their entry in job-definitions.json"
  value       = { for k, v in aws_batch_job_definition.this : k => v.arn }
}

output "compute_environment_arn" {
  description = "ARN of the compute environment"
  value       = aws_batch_compute_environment.this.arn
}

output "log_group_name" {
  description = "Log group the jobs write to"
  value       = local.log_group_name
}

output "log_group_arn" {
  description = "ARN of the job log group (without the :* suffix)"
  value       = local.log_group_arn
}

output "job_role_arn" {
  description = "ARN of the role the worker runs as"
  value       = aws_iam_role.job.arn
}

output "execution_role_arn" {
  description = "ARN of the task execution role"
  value       = aws_iam_role.execution.arn
}

output "security_group_id" {
  description = "Security group of the tasks"
  value       = aws_security_group.this.id
}
