"""The tests' token issuer: the real development issuer of ``partage.devissuer`` (discovery and
JWKS over HTTP, RSA and EC keys, rotation, client credentials), under the names the tests use,
and the two credentials of the registry's identity API.

    with Issuer.running(audience="partage") as issuer:
        token = issuer.token(sub="dr-house", roles=["radiologist"])
"""

from __future__ import annotations

from collections.abc import Generator

import httpx

from partage.devissuer import DevIssuer as Issuer
from partage.devissuer import signing_key as _signing_key

__all__ = ["IdentityAuth", "Issuer", "_signing_key"]


class IdentityAuth(httpx.Auth):
    """Credentials for the registry's identity API: reads (GET) with a bearer JWT of
    ``issuer``, writes with the feed token. A request that sets its own ``Authorization``
    keeps it (refusal tests)."""

    def __init__(self, issuer: Issuer, feed_token: str, roles: list[str] | None = None) -> None:
        self.issuer = issuer
        self.feed_token = feed_token
        self.roles = roles

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if "authorization" not in request.headers:
            token = self.issuer.token("dr-martin", self.roles) if request.method == "GET" \
                else self.feed_token
            request.headers["Authorization"] = f"Bearer {token}"
        yield request
