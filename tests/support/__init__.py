"""Real stand-ins for the region's outside world in tests and the demo: an OIDC token issuer
served over HTTP."""
