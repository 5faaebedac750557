"""What every gateway route needs, built once by ``gateway.main.create_app``: the settings, the
site's PACS, the on-disk instance cache in front of it, the token validator, the access decision
point (``gateway.access``) and the audit trail it records on."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fastapi import Depends

from gateway.access import Access
from gateway.cache import InstanceCache
from gateway.core.config import GatewaySettings
from gateway.pacs import Pacs
from gateway.pacs.dicomweb import DicomwebPacs
from gateway.pacs.dimse import DimsePacs
from partage.audit import AuditTrail
from partage.auth import TokenValidator, bearer
from partage.db import Database
from partage.tokens import ClientCredentials

log = logging.getLogger(__name__)


@dataclass
class GatewayContext:
    settings: GatewaySettings
    pacs: Pacs
    cache: InstanceCache
    tokens: TokenValidator
    access: Access
    audit: AuditTrail
    #: the gateway's own tokens (consent decisions, audits); ``None`` without a client
    own_tokens: ClientCredentials | None

    @classmethod
    def build(cls, settings: GatewaySettings, db: Database, pacs: Pacs | None = None
              ) -> GatewayContext:
        own_tokens = settings.token_source()
        token = own_tokens.token if own_tokens is not None else None
        consent = settings.consent_client(own_tokens)
        if consent is None:
            log.warning("consent is not enforced: no consent_url, studies are served on the "
                        "role rule only")
        audit = AuditTrail.from_settings(settings, "partage-gateway", token)
        return cls(
            settings=settings,
            pacs=pacs or open_pacs(settings),
            cache=InstanceCache(settings.resolved_cache_dir(), settings.cache_max_bytes),
            tokens=settings.token_validator(),
            access=Access(settings, db, consent, audit),
            audit=audit,
            own_tokens=own_tokens,
        )

    def principal(self) -> object:
        """``Depends`` marker giving a route the validated caller (401/503 otherwise)."""
        return Depends(bearer(self.tokens))

    def close(self) -> None:
        if self.access.consent is not None:
            self.access.consent.close()
        if self.own_tokens is not None:
            self.own_tokens.close()


def open_pacs(settings: GatewaySettings) -> Pacs:
    """The adapter the site's settings choose (C-MOVE needs the gateway's C-STORE SCP, so a
    C-MOVE site passes its ``DimsePacs`` to ``create_app``)."""
    if settings.pacs_adapter == "dicomweb":
        return DicomwebPacs(settings.pacs_dicomweb_url)
    return DimsePacs(settings)
