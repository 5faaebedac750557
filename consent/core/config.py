"""Consent service settings (environment prefix ``PARTAGE_CONSENT_``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from partage.web.settings import SignInSettings


class ConsentSettings(SignInSettings):
    model_config = SettingsConfigDict(env_prefix="PARTAGE_CONSENT_", extra="ignore")

    port: int = 8060
    #: what a patient who has not chosen gets: ``opt-out`` shares until the patient objects (the
    #: French DMP), ``opt-in`` shares nothing until the patient agrees
    region_default: Literal["opt-out", "opt-in"] = "opt-out"
    #: whether emergency ("break the glass") access is allowed for a patient who has not said:
    #: allowed, as the DMP's "accès en mode bris de glace" is unless the patient objects
    emergency_default: bool = True
    #: how long an emergency grant lasts, in seconds (2 h)
    emergency_duration_s: float = Field(default=7200, gt=0, le=86400)
    #: assigning authority (OID) of the regional patient IDs (INS): test INS here,
    #: 1.2.250.1.213.1.4.8 in production
    regional_authority: str = "1.2.250.1.213.1.4.10"
    #: caller roles that may ask the decision API about any user (the registry, the gateways,
    #: the portal); a professional may ask only about themself
    decision_service_roles: list[str] = ["service", "site-gateway"]
    # -- audit record repository (ITI-20 in, consent/audit) --------------------------------------
    #: caller roles that may ``POST /audit``
    audit_source_roles: list[str] = ["service", "site-gateway"]
    #: syslog listeners (RFC 5426 UDP, RFC 5425 TLS) on ``host``; ``None``: not started, 0: any
    audit_udp_port: int | None = None
    audit_tls_port: int | None = None
    #: the TLS listener's certificate chain and key (PEM)
    audit_tls_cert_file: str = ""
    audit_tls_key_file: str = ""

    # -- privacy centre (patients' pages at /, consent/centre): partage.web.SignInSettings -----
    signin_client_id: str = "partage-privacy"
    #: its own cookie: the portal's may sit on the same host
    session_cookie: str = "partage_privacy_session"
    session_max_age_s: int = Field(default=2 * 3600, ge=60)
    #: registry SOAP endpoint (ITI-18 with the patient's own token: "My studies")
    registry_url: str = "http://127.0.0.1:8010/registry"
    #: registry identity API (the site directory: names of sites)
    identity_url: str = "http://127.0.0.1:8010/identity"

    def sqlite_name(self) -> str:
        return "consent.sqlite"


