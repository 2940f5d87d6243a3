"""Service layer: plain functions over our ports, called by the Lambda handlers and tests."""
