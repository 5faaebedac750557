"""A service's own access tokens: the OAuth 2.0 client credentials grant (RFC 6749 §4.4), as
DESIGN.md "Security model" asks for machine-to-machine calls (a gateway asking the registry).

Works with any RFC 6749 token endpoint (the development issuer, panva's oidc-provider,
Keycloak): the client authenticates with HTTP Basic (``client_secret_basic``), may name the
API it wants a token for with RFC 8707 ``resource``, and the token is kept until shortly before
it expires, then fetched again. Thread-safe: one fetch at a time, every caller gets the cached
token meanwhile.

    source = ClientCredentials("gateway-a", secret, token_url="https://idp/token")
    headers = source.headers()      # {"Authorization": "Bearer eyJ…"}

Without ``token_url`` the endpoint is read once from the issuer's discovery document
(OpenID Connect Discovery 1.0 §3, ``token_endpoint``).
"""

from __future__ import annotations

import logging
import threading
import time
import warnings

import httpx
from authlib.deprecate import AuthlibDeprecationWarning
from authlib.integrations.base_client import OAuthError

with warnings.catch_warnings():
    # authlib 1.9 announces a move to the httpx2 fork; httpx is what this project locks
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client

log = logging.getLogger(__name__)


class TokenUnavailable(Exception):
    """No token could be obtained (endpoint unreachable, client refused, unusable answer)."""


class ClientCredentials:
    """Access tokens of one client, fetched from ``token_url`` and cached until
    ``margin_s`` before they expire (a token without ``expires_in`` is fetched every time)."""

    def __init__(self, client_id: str, client_secret: str, *, token_url: str = "",
                 issuer: str = "", resource: str = "", scope: str = "", margin_s: float = 30.0,
                 timeout: float = 10.0) -> None:
        if not client_id or not (token_url or issuer):
            raise ValueError("client credentials need a client id and a token URL or issuer")
        self.token_url = token_url
        self.issuer = issuer
        self.resource = resource
        self.margin_s = margin_s
        self._oauth = OAuth2Client(client_id, client_secret, scope=scope or None,
                                   token_endpoint_auth_method="client_secret_basic",
                                   timeout=timeout)
        self._token = ""
        self._expires_at = float("-inf")
        self._lock = threading.Lock()

    def token(self) -> str:
        """A valid access token, from the cache when it still has ``margin_s`` to live."""
        with self._lock:
            if time.monotonic() < self._expires_at - self.margin_s:
                return self._token
            self._token, self._expires_at = self._fetch()
            return self._token

    def headers(self) -> dict[str, str]:
        """The ``Authorization`` header carrying ``token()`` (RFC 6750 §2.1)."""
        return {"Authorization": f"Bearer {self.token()}"}

    def forget(self) -> None:
        """Drop the cached token (a peer refused it): the next call fetches a new one."""
        with self._lock:
            self._token, self._expires_at = "", float("-inf")

    def close(self) -> None:
        self._oauth.close()

    def _fetch(self) -> tuple[str, float]:
        if not self.token_url:
            self.token_url = self._discover()
        started = time.monotonic()
        extra = {"resource": self.resource} if self.resource else {}
        try:
            answer = self._oauth.fetch_token(self.token_url, grant_type="client_credentials",
                                             **extra)
        except OAuthError as exc:
            raise TokenUnavailable(f"{self.token_url} refused the client: {exc.error}: "
                                   f"{exc.description or ''}".rstrip(": ")) from None
        except (httpx.HTTPError, ValueError) as exc:
            raise TokenUnavailable(f"{self.token_url}: {exc}") from None
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise TokenUnavailable(f"{self.token_url}: no access_token in the answer")
        if str(answer.get("token_type", "")).lower() != "bearer":
            raise TokenUnavailable(f"{self.token_url}: token type {answer.get('token_type')!r}"
                                   " is not Bearer")
        try:
            lifetime = float(answer["expires_in"])
        except (KeyError, TypeError, ValueError):
            lifetime = 0.0
        log.info("client credentials token obtained", extra={"token_url": self.token_url,
                                                             "expires_in": lifetime})
        return token, started + lifetime

    def _discover(self) -> str:
        """``token_endpoint`` of the issuer's discovery document, whose ``issuer`` must be
        the configured one (OpenID Connect Discovery 1.0 §4.3)."""
        url = f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"
        try:
            answer = self._oauth.request("GET", url, withhold_token=True)
            answer.raise_for_status()
            document = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise TokenUnavailable(f"cannot read {url}: {exc}") from None
        if not isinstance(document, dict) or document.get("issuer") != self.issuer \
                or not isinstance(document.get("token_endpoint"), str):
            raise TokenUnavailable(f"{url} names no token endpoint of issuer {self.issuer}")
        return str(document["token_endpoint"])
