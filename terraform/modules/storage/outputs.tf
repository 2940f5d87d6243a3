output "bucket_name" {
  description = "Name of the results bucket (RESULTS_BUCKET)"
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the results bucket"
  value       = aws_s3_bucket.this.arn
}
