variable "name" {
  description = "Name prefix for every resource (e.g. overlord-dev)"
  type        = string
}

variable "create_vpc" {
  description = "Create a VPC; false uses vpc_id/subnet_ids"
  type        = bool
  default     = true
}

variable "vpc_id" {
  description = "Existing VPC (only when create_vpc = false)"
  type        = string
  default     = null
}

variable "subnet_ids" {
  description = "Existing subnets where Batch tasks (and VPC-attached Lambdas) run (only when create_vpc = false)"
  type        = list(string)
  default     = []
}

variable "route_table_ids" {
  description = "Route tables of subnet_ids, for the S3 gateway endpoint (only when create_vpc = false)"
  type        = list(string)
  default     = []
}

variable "assign_public_ip" {
  description = "Whether Fargate tasks get a public IP (only when create_vpc = false; true for public subnets without NAT)"
  type        = bool
  default     = false
}

variable "vpc_cidr" {
  description = "CIDR of the created VPC"
  type        = string
  default     = "10.42.0.0/16"
}

variable "azs" {
  description = "Availability zones for the created subnets, one per subnet CIDR (e.g. [\"eu-west-1a\", \"eu-west-1b\"]); pinned so a new AZ never reshuffles subnets"
  type        = list(string)
  default     = []

  # No validation block: comparing with the subnet CIDRs would read other variables,
  # which Terraform accepts only from 1.9; the precondition on aws_vpc.this checks it.
}

variable "public_subnet_cidrs" {
  description = "CIDRs of the public subnets (one per AZ)"
  type        = list(string)
  default     = ["10.42.0.0/24", "10.42.1.0/24"]
}

variable "private_subnet_cidrs" {
  description = "CIDRs of the private subnets (one per AZ)"
  type        = list(string)
  default     = ["10.42.10.0/24", "10.42.11.0/24"]
}

variable "create_nat_gateway" {
  description = "Create one NAT gateway so private subnets reach the internet (billed hourly, also when idle)"
  type        = bool
  default     = false
}

variable "enable_vpc_endpoints" {
  description = "Create the S3 gateway endpoint and the interface endpoints in interface_endpoint_services (interface endpoints are billed hourly per AZ)"
  type        = bool
  default     = false
}

variable "interface_endpoint_services" {
  description = "Interface endpoints to create when enable_vpc_endpoints is true"
  type        = list(string)
  default     = ["ecr.api", "ecr.dkr", "logs", "secretsmanager", "batch", "sts"]
}

variable "ecs_instance_endpoints" {
  description = "Also create the ecs, ecs-agent and ecs-telemetry interface endpoints (with enable_vpc_endpoints), which EC2/SPOT container instances need to register with ECS without a NAT gateway"
  type        = bool
  default     = false
}

variable "enable_flow_log" {
  description = "Log rejected VPC traffic to CloudWatch Logs"
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Retention of the flow log group"
  type        = number
}

variable "kms_key_arn" {
  description = "KMS key for the flow log group; null uses CloudWatch Logs' own encryption"
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags applied to every resource"
  type        = map(string)
  default     = {}
}
