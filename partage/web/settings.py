"""What a browser-facing service needs to sign people in with OpenID Connect: its client at the
region's issuer, its public address and its session cookie. Each service builds one from its
own settings (the portal for professionals, the consent service's privacy centre for
patients), so two apps on one host keep distinct clients and cookies."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import Field

from partage.settings import ServiceSettings


@dataclass(frozen=True)
class WebSettings:
    #: issuer identifier (its discovery document is read from it)
    issuer: str
    #: this app's confidential OAuth client at the issuer
    client_id: str
    client_secret: str
    #: the address browsers use: the redirect URI is ``{base_url}/auth/callback``
    base_url: str
    #: key signing the session cookie
    session_secret: str
    #: cookie name of its own: browsers share cookies across the ports of one host
    session_cookie: str
    session_max_age_s: int = 8 * 3600
    scope: str = "openid profile"
    #: seconds a call to the issuer may take
    timeout_s: float = 30.0

    @property
    def origin(self) -> str:
        """``scheme://host:port`` of ``base_url`` (what a same-origin POST's Origin says)."""
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def secure(self) -> bool:
        """Served over HTTPS: the cookie gets ``Secure``."""
        return urlsplit(self.base_url).scheme == "https"


class SignInSettings(ServiceSettings):
    """The settings of a service people sign in to (the portal, the consent service's privacy
    centre), each with its own defaults: its client, public address and session, given to
    ``partage.web`` by ``web()``."""

    #: the address browsers use (redirect URIs are built on it); empty: http://{host}:{port}
    public_url: str = ""
    # -- sign-in (OIDC relying party of ``issuer``; tokens checked as every service does, with
    # ``audience``, ``jwks_url`` and the claim paths of ServiceSettings) ------------------------
    signin_client_id: str = ""
    signin_client_secret: str = ""
    scope: str = "openid profile"
    # -- session ---------------------------------------------------------------------------------
    #: key signing the session cookie; a random one per process unless set (sessions then end
    #: with the process)
    session_secret: str = Field(default_factory=lambda: secrets.token_urlsafe(32))
    #: cookie name of its own: browsers share cookies across the ports of one host
    session_cookie: str = "partage_session"
    session_max_age_s: int = Field(default=8 * 3600, ge=60)
    #: seconds any call to another service (the issuer included) may take
    upstream_timeout_s: float = Field(default=30.0, gt=0)

    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def web(self) -> WebSettings:
        """The sign-in and session settings of ``partage.web``."""
        return WebSettings(
            issuer=self.issuer, client_id=self.signin_client_id,
            client_secret=self.signin_client_secret, base_url=self.base_url(),
            session_secret=self.session_secret, session_cookie=self.session_cookie,
            session_max_age_s=self.session_max_age_s, scope=self.scope,
            timeout_s=self.upstream_timeout_s)
