output "api_id" {
  description = "ID of the HTTP API"
  value       = aws_apigatewayv2_api.this.id
}

output "api_url" {
  description = "Base URL of the API (default stage)"
  value       = aws_apigatewayv2_stage.this.invoke_url
}

output "execution_arn" {
  description = "Execution ARN, for execute-api:Invoke IAM policies on callers (<execution_arn>/*/POST/jobs ...)"
  value       = aws_apigatewayv2_api.this.execution_arn
}

output "access_log_group_name" {
  description = "Access log group of the default stage"
  value       = aws_cloudwatch_log_group.access.name
}
