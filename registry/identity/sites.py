"""The region's site directory (DESIGN.md, Identifiers): who a site is and where its gateway is.

Consumers resolve a KOS's Retrieve Location UID (the gateway's repositoryUniqueId) to the site's
RAD-69 and WADO-RS base URLs here; the registry and repository use it to accept a site's
submissions only for that site.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import Site


class DuplicateRepository(Exception):
    """Another site already has this repositoryUniqueId."""

    def __init__(self, repository_unique_id: str, owner: str) -> None:
        super().__init__(f"repositoryUniqueId {repository_unique_id} belongs to site {owner}")
        self.owner = owner


@dataclass(frozen=True)
class SiteEntry:
    name: str
    repository_unique_id: str
    rad69_url: str | None = None
    wado_rs_url: str | None = None
    client_id: str | None = None
    active: bool = True


def put_site(session: Session, *, oid: str, entry: SiteEntry) -> tuple[Site, bool]:
    """Create or replace the site ``oid``; return it and whether it is new."""
    owner = session.scalar(
        select(Site.oid).where(
            Site.repository_unique_id == entry.repository_unique_id, Site.oid != oid
        )
    )
    if owner is not None:
        raise DuplicateRepository(entry.repository_unique_id, owner)
    site = session.get(Site, oid)
    created = site is None
    if site is None:
        site = Site(oid=oid)
        session.add(site)
    site.name = entry.name
    site.repository_unique_id = entry.repository_unique_id
    site.rad69_url = entry.rad69_url
    site.wado_rs_url = entry.wado_rs_url
    site.client_id = entry.client_id
    site.active = entry.active
    session.flush()
    return site, created


def get_site(session: Session, oid: str) -> Site | None:
    return session.get(Site, oid)


def list_sites(session: Session, *, repository_unique_id: str | None = None) -> list[Site]:
    query = select(Site).order_by(Site.oid)
    if repository_unique_id is not None:
        query = query.where(Site.repository_unique_id == repository_unique_id)
    return list(session.scalars(query))
