################################################################################
# Results bucket
#
# Prefixes (see DESIGN.md):
#   params/   large job parameters written by the submitter, read by the worker
#   inputs/   objects the worker may read (e.g. checksum task inputs)
#   results/  result JSON written by the worker, read by the recorder
################################################################################

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_144:Results are reproducible by re-running the job; cross-region replication is not worth its cost here
  #checkov:skip=CKV2_AWS_62:Nothing consumes bucket notifications - completion is signalled by Batch state-change events
  #checkov:skip=CKV_AWS_18:Server access logging would need a second bucket; use CloudTrail S3 data events for an object-level audit trail
  bucket        = var.bucket_name
  force_destroy = var.force_destroy

  tags = var.tags
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket = aws_s3_bucket.this.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "expire-params"
    status = "Enabled"

    filter {
      prefix = "params/"
    }

    expiration {
      days = var.params_expiration_days
    }
  }

  rule {
    id     = "tidy"
    status = "Enabled"

    filter {
      prefix = ""
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

################################################################################
# Bucket policy - TLS only
################################################################################

data "aws_iam_policy_document" "this" {
  statement {
    # Deny statements may name a whole service: this denies every S3 call made
    # without TLS, whoever makes it.
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.this.arn,
      "${aws_s3_bucket.this.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.this.json

  depends_on = [aws_s3_bucket_public_access_block.this]
}
