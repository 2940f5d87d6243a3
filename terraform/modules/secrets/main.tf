data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
}

################################################################################
# KMS key (optional) - one customer managed key for the whole deployment:
# the secret, log groups, SQS queues, the results bucket, ECR and Lambda
# environment variables. Rotation is on; the policy is below.
################################################################################

resource "aws_kms_key" "this" {
  count = var.create_kms_key ? 1 : 0

  description             = "Overlord (${var.name}) data key"
  enable_key_rotation     = true
  rotation_period_in_days = var.kms_key_rotation_period_in_days
  deletion_window_in_days = var.kms_key_deletion_window_in_days
  policy                  = data.aws_iam_policy_document.kms[0].json

  tags = var.tags
}

resource "aws_kms_alias" "this" {
  count = var.create_kms_key ? 1 : 0

  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this[0].key_id
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:Key policy - "*" resource means this key only; administration is delegated to IAM in the account
  #checkov:skip=CKV_AWS_111:Key policy - "*" resource means this key only
  #checkov:skip=CKV_AWS_356:Key policy - "*" resource means this key only
  count = var.create_kms_key ? 1 : 0

  statement {
    # wildcard: in a key policy "*" is the key the policy is attached to
    sid    = "AwsRequiresWildcardAccountAdministration"
    effect = "Allow"
    actions = [
      "kms:Cancel*",
      "kms:Create*",
      "kms:Decrypt",
      "kms:Delete*",
      "kms:Describe*",
      "kms:Disable*",
      "kms:Enable*",
      "kms:Encrypt",
      "kms:GenerateDataKey*",
      "kms:Get*",
      "kms:List*",
      "kms:Put*",
      "kms:ReEncrypt*",
      "kms:RetireGrant",
      "kms:Revoke*",
      "kms:RotateKeyOnDemand",
      "kms:ScheduleKeyDeletion",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:Update*",
    ]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    # wildcard: in a key policy "*" is the key the policy is attached to
    sid    = "AwsRequiresWildcardCloudWatchLogs"
    effect = "Allow"
    actions = [
      "kms:Decrypt*",
      "kms:Describe*",
      "kms:Encrypt*",
      "kms:GenerateDataKey*",
      "kms:ReEncrypt*",
    ]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
    }
  }

  statement {
    # wildcard: in a key policy "*" is the key the policy is attached to.
    # EventBridge writes undeliverable events to the encrypted SQS dead-letter queue.
    sid       = "AwsRequiresWildcardEventBridgeDeadLetters"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

################################################################################
# MongoDB connection string
#
# Only the secret's container is managed here - there is deliberately no
# aws_secretsmanager_secret_version, so the URI never lands in Terraform state.
# The operator sets it once:
#   aws secretsmanager put-secret-value --secret-id <arn> --secret-string 'mongodb+srv://...'
################################################################################

resource "aws_secretsmanager_secret" "mongodb_uri" {
  #checkov:skip=CKV2_AWS_57:The URI belongs to an external MongoDB (Atlas); its credentials are rotated there and re-put by the operator, no rotation Lambda applies
  name                    = "${var.name}/mongodb-uri"
  description             = "MongoDB connection URI for Overlord (${var.name}); value set out of band with put-secret-value"
  kms_key_id              = var.create_kms_key ? aws_kms_key.this[0].arn : null
  recovery_window_in_days = var.secret_recovery_window_in_days

  tags = var.tags
}
