"""What every gateway route needs, built once by ``gateway.main.create_app``: the settings, the
site's PACS, the on-disk instance cache in front of it and the token validator."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends

from gateway.cache import InstanceCache
from gateway.core.config import GatewaySettings
from gateway.pacs import Pacs
from gateway.pacs.dicomweb import DicomwebPacs
from gateway.pacs.dimse import DimsePacs
from partage.auth import TokenValidator, bearer


@dataclass
class GatewayContext:
    settings: GatewaySettings
    pacs: Pacs
    cache: InstanceCache
    tokens: TokenValidator

    @classmethod
    def build(cls, settings: GatewaySettings, pacs: Pacs | None = None) -> GatewayContext:
        return cls(
            settings=settings,
            pacs=pacs or open_pacs(settings),
            cache=InstanceCache(settings.resolved_cache_dir(), settings.cache_max_bytes),
            tokens=settings.token_validator(),
        )

    def principal(self) -> object:
        """``Depends`` marker giving a route the validated caller (401/503 otherwise)."""
        return Depends(bearer(self.tokens))


def open_pacs(settings: GatewaySettings) -> Pacs:
    """The adapter the site's settings choose (C-MOVE needs the gateway's C-STORE SCP, so a
    C-MOVE site passes its ``DimsePacs`` to ``create_app``)."""
    if settings.pacs_adapter == "dicomweb":
        return DicomwebPacs(settings.pacs_dicomweb_url)
    return DimsePacs(settings)
