"""API Gateway (HTTP API) emulation: the gateway server, payload format 2.0 events and
responses (`payload`), and SigV4 signing and verification (`sigv4`).

``python -m overlord_local.apigateway`` runs the gateway (`gateway.main`).
"""
