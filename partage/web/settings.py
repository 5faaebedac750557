"""What a browser-facing service needs to sign people in with OpenID Connect: its client at the
region's issuer, its public address and its session cookie. Each service builds one from its
own settings (the portal for professionals, the consent service's privacy centre for
patients), so two apps on one host keep distinct clients and cookies."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


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
