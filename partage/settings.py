"""Settings common to every service; each service subclasses ``ServiceSettings`` with its own
environment prefix (``PARTAGE_REGISTRY_``, ``PARTAGE_REPOSITORY_`` …).

Every service is a resource server of the region's one token issuer (DESIGN.md "Security
model"), so the issuer, the audience and where the claims sit are common settings too."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from partage.auth import ClaimPaths, JwksCache, TokenValidator
from partage.consent import MAX_TTL_S, ConsentClient
from partage.tokens import ClientCredentials

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "partage"


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARTAGE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = DEFAULT_DATA_DIR
    #: SQLAlchemy URL; empty means an SQLite file under ``data_dir``.
    database_url: str = ""
    #: Largest request body accepted, in bytes (bigger ones are refused before parsing).
    max_body_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    log_level: str = "INFO"
    log_json: bool = True
    # -- bearer tokens (IHE IUA): only JWTs of this issuer, for this audience, are accepted ----
    #: issuer identifier, byte-identical to the tokens' ``iss`` (``localhost`` ≠ ``127.0.0.1``)
    issuer: str = "http://127.0.0.1:8000"
    audience: str = "partage"
    #: JWKS URL; empty: the issuer's discovery document names it
    jwks_url: str = ""
    #: dotted claim paths of the caller's attributes (Keycloak: ``realm_access.roles``)
    roles_claim: str = "roles"
    rpps_claim: str = "rpps"
    organisation_claim: str = "organisation"
    purpose_of_use_claim: str = "purpose_of_use"
    name_claim: str = "name"
    # -- ATNA audit (ITI-20): where this service's audit messages go (partage/audit.py) --------
    #: audit record repository's ``POST /audit`` URL; empty: not sent over HTTP
    audit_url: str = ""
    #: syslog destinations, comma separated: ``udp://host:port`` (RFC 5426), ``tls://host:port``
    #: (RFC 5425)
    audit_syslog: str = ""
    #: CA bundle the TLS syslog receiver's certificate is checked against (empty: system CAs)
    audit_ca_file: str = ""

    def token_validator(self) -> TokenValidator:
        """The validator of this service's bearer tokens (keys fetched on first use)."""
        paths = ClaimPaths(roles=self.roles_claim, rpps=self.rpps_claim,
                           organisation=self.organisation_claim,
                           purpose_of_use=self.purpose_of_use_claim, name=self.name_claim)
        return TokenValidator(self.issuer, self.audience, JwksCache(self.issuer, self.jwks_url),
                              claim_paths=paths)

    def sqlite_name(self) -> str:
        """File name of the embedded database; overridden per service."""
        return "partage.sqlite"

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.data_dir / self.sqlite_name()}"


class CallerSettings(ServiceSettings):
    """A service that calls others with its own tokens (the client credentials grant,
    DESIGN.md "Security model"): the gateways, the repository, the registry and the portal —
    among others the consent service's decision point, which the registry, the gateways and
    the portal enforce."""

    #: token endpoint; empty: the issuer's discovery document names it
    token_url: str = ""
    #: this service's OAuth client; empty: it calls without a token (refused by a service
    #: that requires one)
    client_id: str = ""
    client_secret: str = ""
    #: RFC 8707 ``resource`` asked for (e.g. ``urn:partage``); empty: the issuer's default
    token_resource: str = ""
    #: the consent service (policy decision point) asked before anything of a patient is
    #: shown; empty: this service does not ask (logged as a warning by those that enforce)
    consent_url: str = ""
    #: how long a decision is acted on before it is asked again (the region promises 5 s at
    #: most; 0 asks every time)
    consent_cache_s: float = Field(default=MAX_TTL_S, ge=0, le=MAX_TTL_S)

    def token_source(self) -> ClientCredentials | None:
        """This service's own tokens, or ``None`` when it has no client."""
        if not self.client_id:
            return None
        return ClientCredentials(self.client_id, self.client_secret, token_url=self.token_url,
                                 issuer=self.issuer, resource=self.token_resource)

    def consent_client(self, tokens: ClientCredentials | None) -> ConsentClient | None:
        """The decision point's client asking with ``tokens`` (this service's own), or
        ``None`` without a ``consent_url``; a ``consent_url`` without a client is an error."""
        if not self.consent_url:
            return None
        if tokens is None:
            raise ValueError("consent_url needs this service's client credentials (client_id, "
                             "client_secret) to ask the consent service")
        return ConsentClient(self.consent_url, tokens.token, ttl_s=self.consent_cache_s)
