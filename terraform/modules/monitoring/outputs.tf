output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies"
  value       = aws_sns_topic.alarms.arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the same figures"
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "alarm_names" {
  description = "Every alarm, by what it watches"
  value = merge(
    { for k, v in aws_cloudwatch_metric_alarm.dlq_depth : "dlq_${k}" => v.alarm_name },
    { for k, v in aws_cloudwatch_metric_alarm.lambda_errors : "errors_${k}" => v.alarm_name },
    { for k, v in aws_cloudwatch_metric_alarm.lambda_throttles : "throttles_${k}" => v.alarm_name },
    { for k, v in aws_cloudwatch_metric_alarm.product : k => v.alarm_name },
    { api_5xx_rate = aws_cloudwatch_metric_alarm.api_5xx_rate.alarm_name },
  )
}
