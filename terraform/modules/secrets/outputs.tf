output "mongodb_secret_arn" {
  description = "ARN of the secret holding the MongoDB URI (value set with put-secret-value)"
  value       = aws_secretsmanager_secret.mongodb_uri.arn
}

output "mongodb_secret_name" {
  description = "Name of the secret holding the MongoDB URI"
  value       = aws_secretsmanager_secret.mongodb_uri.name
}

output "kms_key_arn" {
  description = "ARN of the customer managed KMS key, or null when none was created"
  value       = try(aws_kms_key.this[0].arn, null)
}

output "kms_key_alias" {
  description = "Alias of the customer managed KMS key, or null when none was created"
  value       = try(aws_kms_alias.this[0].name, null)
}
