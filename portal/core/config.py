"""Portal settings (environment prefix ``PARTAGE_PORTAL_``)."""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from partage.settings import CallerSettings
from partage.web.settings import WebSettings


class PortalSettings(CallerSettings):
    """``client_id`` / ``client_secret`` / ``token_url`` (CallerSettings) are the portal's own
    service client (role ``service``): it asks the consent service's decision point and posts
    its audit messages with it. Users sign in with another client, ``signin_client_id``."""

    model_config = SettingsConfigDict(env_prefix="PARTAGE_PORTAL_", extra="ignore")

    port: int = 8050
    #: the address browsers use (redirect URIs are built on it); empty: http://{host}:{port}
    public_url: str = ""
    # -- sign-in (OIDC relying party of ``issuer``; tokens checked as every service does, with
    # ``audience``, ``jwks_url`` and the claim paths of ServiceSettings) ------------------------
    signin_client_id: str = "partage-portal"
    signin_client_secret: str = ""
    scope: str = "openid profile"
    # -- session ---------------------------------------------------------------------------------
    #: key signing the session cookie; a random one per process unless set (sessions then end
    #: with the process)
    session_secret: str = Field(default_factory=lambda: secrets.token_urlsafe(32))
    #: cookie name of its own: browsers share cookies across the ports of one host
    session_cookie: str = "partage_portal_session"
    session_max_age_s: int = Field(default=8 * 3600, ge=60)
    # -- the region's services -------------------------------------------------------------------
    #: registry SOAP endpoint (ITI-18)
    registry_url: str = "http://127.0.0.1:8010/registry"
    #: registry identity API (patient search, site directory)
    identity_url: str = "http://127.0.0.1:8010/identity"
    #: repository SOAP endpoint (ITI-43)
    repository_url: str = "http://127.0.0.1:8020/repository"
    #: the consent service (decision point, emergency grants); empty: the portal shows what
    #: the registry gives without asking again (the registry and gateways still enforce)
    consent_url: str = ""
    #: the patients' privacy centre as browsers reach it (a patient who signs in here is sent
    #: there); empty: not linked
    privacy_url: str = ""
    #: seconds any call to a service may take before the portal answers 504
    upstream_timeout_s: float = Field(default=30.0, gt=0)
    #: assigning authority of the regional patient IDs (INS; production 1.2.250.1.213.1.4.8):
    #: a bare INS typed in the search is qualified with it
    regional_id_authority: str = "1.2.250.1.213.1.4.10"
    # -- images ----------------------------------------------------------------------------------
    #: the built viewer (``npm run build`` in portal/viewer)
    viewer_dist: Path = Path(__file__).resolve().parents[1] / "viewer" / "dist"
    #: bounded cache of resolved manifests and proxied metadata; empty: {data_dir}/portal-cache
    cache_dir: Path | None = None
    cache_max_bytes: int = Field(default=512 * 1024**2, ge=1024 * 1024)
    #: the reading site's local PACS for "send to PACS" (C-STORE), as ``AE@host:port``; empty:
    #: the action is not offered
    export_pacs: str = ""
    #: the portal's own AE title when it sends to that PACS
    ae_title: str = "PARTAGE_PORTAL"

    def sqlite_name(self) -> str:
        return "portal.sqlite"

    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def web(self) -> WebSettings:
        """The sign-in and session settings of ``partage.web``."""
        return WebSettings(
            issuer=self.issuer, client_id=self.signin_client_id,
            client_secret=self.signin_client_secret,
            base_url=self.base_url(), session_secret=self.session_secret,
            session_cookie=self.session_cookie, session_max_age_s=self.session_max_age_s,
            scope=self.scope, timeout_s=self.upstream_timeout_s)

    def resolved_cache_dir(self) -> Path:
        return self.cache_dir or self.data_dir / "portal-cache"
