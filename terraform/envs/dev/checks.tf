################################################################################
# Layout checks: combinations of variables that apply but cannot work.
# Only variables are read here, so tests/infra/test_terraform_checks.py plans
# this file on its own (no AWS provider needed).
################################################################################

locals {
  batch_on_fargate = contains(["FARGATE", "FARGATE_SPOT"], var.batch_compute_type)

  # With a created VPC: do private subnets have a way out?
  created_private_egress = var.create_vpc && (var.create_nat_gateway || var.enable_vpc_endpoints)
}

resource "terraform_data" "layout_checks" {
  lifecycle {
    precondition {
      condition     = var.create_vpc || !var.create_nat_gateway
      error_message = "create_nat_gateway = true only applies with create_vpc = true; with an existing VPC (create_vpc = false) nothing would be created. Route subnet_ids through your own NAT gateway and set create_nat_gateway = false, or set create_vpc = true."
    }

    # EC2/SPOT instances in the created public subnets get no public IP
    # (map_public_ip_on_launch = false) and never register with ECS.
    precondition {
      condition     = local.batch_on_fargate || !var.create_vpc || local.created_private_egress
      error_message = "batch_compute_type = \"${var.batch_compute_type}\" needs a way for the container instances to reach ECS, ECR and CloudWatch Logs: set create_nat_gateway = true or enable_vpc_endpoints = true (adds the ecs, ecs-agent and ecs-telemetry endpoints), or use batch_compute_type = \"FARGATE\". With an existing VPC (create_vpc = false) give subnet_ids that have a NAT route, those endpoints, or auto-assigned public IPs."
    }

    # VPC-attached Lambdas have no public IP: without NAT or endpoints every call times out.
    precondition {
      condition     = !var.lambdas_in_vpc || !var.create_vpc || local.created_private_egress
      error_message = "lambdas_in_vpc = true places the Lambdas in private subnets with no way out: set create_nat_gateway = true (MongoDB Atlas over the internet; allow-list the nat_gateway_public_ip output), or enable_vpc_endpoints = true if MongoDB is reachable privately (VPC peering / PrivateLink), or lambdas_in_vpc = false."
    }
  }
}
