"""What a browser-facing service of the region shares: OpenID Connect sign-in, server-side
sessions, CSRF checks (see README.md)."""
