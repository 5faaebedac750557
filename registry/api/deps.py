"""What every registry route needs: settings, the database, the affinity-domain code set, the
validator of callers' bearer tokens, the consent filter of ITI-18 answers and the audit trail."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from partage.audit import AuditTrail
from partage.auth import TokenValidator
from partage.db import Database
from partage.tokens import ClientCredentials
from registry.codes import CodeSet
from registry.core.config import RegistrySettings
from registry.queries.consent_filter import ConsentFilter

log = logging.getLogger(__name__)


@dataclass
class RegistryContext:
    settings: RegistrySettings
    db: Database
    codes: CodeSet | None
    tokens: TokenValidator = field(init=False)
    #: the registry's own tokens (consent decisions, audits); ``None`` without a client
    own_tokens: ClientCredentials | None = field(init=False)
    consent: ConsentFilter = field(init=False)
    audit: AuditTrail = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.settings.token_validator()
        self.own_tokens = self.settings.token_source()
        token = self.own_tokens.token if self.own_tokens is not None else None
        self.consent = ConsentFilter(self.settings.consent_client(self.own_tokens),
                                     self.settings.regional_authority)
        self.audit = AuditTrail.from_settings(self.settings, "partage-registry", token)

    @classmethod
    def build(cls, settings: RegistrySettings, db: Database) -> RegistryContext:
        codes = CodeSet.from_file(settings.codes_file) if settings.codes_file else None
        if not settings.consent_url:
            log.warning("consent is not enforced: no consent_url, ITI-18 answers follow the "
                        "role rules only")
        return cls(settings=settings, db=db, codes=codes)

    def close(self) -> None:
        if self.consent.client is not None:
            self.consent.client.close()
        if self.own_tokens is not None:
            self.own_tokens.close()
