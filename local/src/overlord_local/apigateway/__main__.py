"""``python -m overlord_local.apigateway``: the local API gateway (see `gateway.main`)."""

from overlord_local.apigateway.gateway import main

raise SystemExit(main())
