"""Overlord's contracts, shared by the product, the local stack and (as JSON) Terraform.

Nothing here imports the product or the local stack, and nothing here does I/O beyond
reading the contract files themselves (docs/architecture.md, "Contracts").
"""
