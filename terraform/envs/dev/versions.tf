terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.70"
    }
  }

  # State is local by default. For a shared environment use a remote backend, e.g.
  # (use_lockfile, S3-native locking, needs Terraform >= 1.10; with older versions
  # lock with dynamodb_table = "<table with a LockID string hash key>" instead)
  #   backend "s3" {
  #     bucket       = "my-terraform-state"
  #     key          = "overlord/dev.tfstate"
  #     region       = "eu-west-1"
  #     use_lockfile = true
  #   }
}

provider "aws" {
  region = var.region
}
