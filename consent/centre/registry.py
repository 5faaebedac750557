"""What the privacy centre reads from the registry with the patient's own token: their studies
(ITI-18 FindDocuments, which gives a patient their own entries unfiltered) and the names of the
region's sites (the identity API's site directory). Blocking: pages run these in a thread."""

from __future__ import annotations

import httpx

from consent.core.config import ConsentSettings
from partage.regional_studies import RegistryRefused, RegistryUnavailable, StudyEntry, find_studies

#: what ``my_studies`` raises when the registry cannot answer (down, refused, a fault)
REGISTRY_FAILURES = (RegistryUnavailable, RegistryRefused)


def my_studies(settings: ConsentSettings, token: str, patient: str) -> list[StudyEntry]:
    """The patient's studies (KOS manifests), newest first (the settings are a
    ``portal.studies.RegistryReader``)."""
    return find_studies(settings, token, patient).studies


def site_names(settings: ConsentSettings, token: str) -> dict[str, str]:
    """Site OID → name from the directory; empty when it cannot be read (pages show OIDs)."""
    try:
        answer = httpx.get(f"{settings.identity_url.rstrip('/')}/sites",
                           headers={"Authorization": f"Bearer {token}"},
                           timeout=settings.upstream_timeout_s)
        answer.raise_for_status()
        return {str(s["oid"]): str(s["name"]) for s in answer.json()}
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return {}
