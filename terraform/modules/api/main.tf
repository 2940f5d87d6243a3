locals {
  # Every route goes to the submitter; it routes internally (powertools resolver).
  # $default catches every other method and path, so that an unknown route is the
  # submitter's problem+json 404, not API Gateway's {"message":"Not Found"}. Like the
  # others it needs SigV4: unsigned requests stay API Gateway's 403.
  routes = toset([
    "POST /jobs",
    "GET /jobs",
    "GET /jobs/{job_id}",
    "POST /jobs/{job_id}/runs",
    "GET /jobs/{job_id}/runs",
    "GET /jobs/{job_id}/logs",
    "POST /jobs/{job_id}/cancel",
    "GET /tasks",
    "GET /tasks/{name}",
    "GET /health",
    "GET /openapi.json",
    "GET /docs",
    "$default",
  ])
}

################################################################################
# HTTP API
################################################################################

resource "aws_apigatewayv2_api" "this" {
  name          = var.name
  description   = "Overlord: HTTP request -> AWS Batch job (IAM/SigV4 auth)"
  protocol_type = "HTTP"

  tags = var.tags
}

resource "aws_apigatewayv2_integration" "submitter" {
  api_id                 = aws_apigatewayv2_api.this.id
  integration_type       = "AWS_PROXY"
  integration_method     = "POST"
  integration_uri        = var.submitter_invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = var.integration_timeout_milliseconds
}

resource "aws_apigatewayv2_route" "this" {
  for_each = local.routes

  api_id             = aws_apigatewayv2_api.this.id
  route_key          = each.value
  authorization_type = "AWS_IAM"
  target             = "integrations/${aws_apigatewayv2_integration.submitter.id}"
}

################################################################################
# Stage: throttling and access logs
################################################################################

resource "aws_cloudwatch_log_group" "access" {
  name              = "/aws/apigateway/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_apigatewayv2_stage" "this" {
  api_id      = aws_apigatewayv2_api.this.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_burst_limit = var.throttling_burst_limit
    throttling_rate_limit  = var.throttling_rate_limit
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      requestTime        = "$context.requestTime"
      httpMethod         = "$context.httpMethod"
      routeKey           = "$context.routeKey"
      path               = "$context.path"
      status             = "$context.status"
      responseLength     = "$context.responseLength"
      integrationLatency = "$context.integrationLatency"
      integrationError   = "$context.integrationErrorMessage"
      sourceIp           = "$context.identity.sourceIp"
      caller             = "$context.identity.caller"
      userArn            = "$context.identity.userArn"
    })
  }

  tags = var.tags
}

################################################################################
# Permission for API Gateway to invoke the submitter
################################################################################

resource "aws_lambda_permission" "this" {
  statement_id  = "AllowHttpApiInvoke"
  action        = "lambda:InvokeFunction"
  function_name = var.submitter_function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/*/*"
}
