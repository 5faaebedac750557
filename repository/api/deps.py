"""What every repository route needs: settings, the database, the document store, the SOAP
client that forwards ITI-42 to the registry with the repository's own token, the validator
of callers' bearer tokens and the audit trail (sent with the same token)."""

from __future__ import annotations

from dataclasses import dataclass, field

from partage.audit import AuditTrail
from partage.auth import TokenValidator
from partage.db import Database
from partage.soapclient import XdsClient
from partage.tokens import ClientCredentials
from repository.core.config import RepositorySettings
from repository.storage import DocumentStore, open_store


@dataclass
class RepositoryContext:
    settings: RepositorySettings
    db: Database
    store: DocumentStore
    client: XdsClient
    tokens: TokenValidator = field(init=False)
    #: the repository's own tokens for ITI-42 and audits (``None``: no client configured)
    own_tokens: ClientCredentials | None = field(init=False)
    audit: AuditTrail = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.settings.token_validator()
        self.own_tokens = self.settings.token_source()
        self.audit = AuditTrail.from_settings(
            self.settings, "partage-repository",
            self.own_tokens.token if self.own_tokens is not None else None)

    def registry_token(self) -> str | None:
        """The bearer token ITI-42 is forwarded with; ``TokenUnavailable`` when the issuer
        gives none."""
        return self.own_tokens.token() if self.own_tokens is not None else None

    @classmethod
    def build(cls, settings: RepositorySettings, db: Database) -> RepositoryContext:
        return cls(
            settings=settings,
            db=db,
            store=open_store(settings),
            client=XdsClient(settings.wsdl_dir, timeout=settings.registry_timeout),
        )
