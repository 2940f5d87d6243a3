output "vpc_id" {
  description = "VPC the workloads run in"
  value       = local.vpc_id
}

output "vpc_cidr" {
  description = "CIDR of the VPC"
  value       = local.vpc_cidr
}

output "workload_subnet_ids" {
  description = "Subnets for Batch tasks: private when a NAT gateway or endpoints exist, otherwise public"
  value       = local.workload_subnet_ids
}

output "private_subnet_ids" {
  description = "Private subnets of the created VPC (for VPC-attached Lambdas; needs the NAT gateway to reach MongoDB)"
  value       = var.create_vpc ? aws_subnet.private[*].id : var.subnet_ids
}

output "assign_public_ip" {
  description = "Whether Fargate tasks need a public IP in workload_subnet_ids"
  value       = local.assign_public_ip
}

output "nat_gateway_public_ip" {
  description = "Public IP of the NAT gateway (allow-list it in MongoDB Atlas), or null"
  value       = try(aws_eip.nat[0].public_ip, null)
}
