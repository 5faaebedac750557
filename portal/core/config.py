"""Portal settings (environment prefix ``PARTAGE_PORTAL_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from partage.settings import CallerSettings
from partage.web.settings import SignInSettings


class PortalSettings(CallerSettings, SignInSettings):
    """``client_id`` / ``client_secret`` / ``token_url`` (CallerSettings) are the portal's own
    service client (role ``service``): it asks the consent service's decision point and posts
    its audit messages with it. Users sign in with another client, ``signin_client_id``."""

    model_config = SettingsConfigDict(env_prefix="PARTAGE_PORTAL_", extra="ignore")

    port: int = 8050
    # -- sign-in and session (partage.web.SignInSettings) ----------------------------------------
    signin_client_id: str = "partage-portal"
    session_cookie: str = "partage_portal_session"
    # -- the region's services -------------------------------------------------------------------
    #: registry SOAP endpoint (ITI-18)
    registry_url: str = "http://127.0.0.1:8010/registry"
    #: registry identity API (patient search, site directory)
    identity_url: str = "http://127.0.0.1:8010/identity"
    #: repository SOAP endpoint (ITI-43)
    repository_url: str = "http://127.0.0.1:8020/repository"
    #: the patients' privacy centre as browsers reach it (a patient who signs in here is sent
    #: there); empty: not linked
    privacy_url: str = ""
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

    def resolved_cache_dir(self) -> Path:
        return self.cache_dir or self.data_dir / "portal-cache"
