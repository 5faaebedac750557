"""The region's site directory as the portal reads it: a manifest's Retrieve Location UID (the
gateway's repositoryUniqueId) → the site and its gateway's WADO-RS base URL, from the registry's
identity API (``GET {identity_url}/sites?repository_unique_id=…``) with the user's token, kept
a short while (sites change rarely; a suspension must still take effect within seconds)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from portal.imaging.lru import TtlLru
from portal.imaging.problems import ImagingProblem


@dataclass(frozen=True)
class Site:
    oid: str
    name: str
    repository_unique_id: str
    wado_rs_url: str
    active: bool


class SiteDirectory:
    """Lookups of the identity API's site directory, cached ``ttl_s`` per repositoryUniqueId."""

    def __init__(self, identity_url: str, *, ttl_s: float = 30.0, max_items: int = 256) -> None:
        self.identity_url = identity_url.rstrip("/")
        self._cache: TtlLru[str, Site | None] = TtlLru(max_items, ttl_s)

    async def site_for(self, http: httpx.AsyncClient, token: str,
                       retrieve_location_uid: str) -> Site:
        """The active site whose gateway has this repositoryUniqueId, with a WADO-RS URL.

        Raises ``ImagingProblem`` 502 naming the UID when the site is unknown, suspended or
        offers no WADO-RS, or when the directory cannot be read (504 on a timeout)."""
        site = self._cache.get(retrieve_location_uid)
        if site is None:
            site = await self._lookup(http, token, retrieve_location_uid)
            self._cache.put(retrieve_location_uid, site)
        if site is None:
            raise ImagingProblem(502, f"no site of the region's directory has the Retrieve "
                                      f"Location UID {retrieve_location_uid}")
        if not site.active:
            raise ImagingProblem(502, f"site {site.name} ({site.oid}), which holds these "
                                      "images, is suspended from the region")
        if not site.wado_rs_url:
            raise ImagingProblem(502, f"site {site.name} ({site.oid}) offers no WADO-RS")
        return site

    async def _lookup(self, http: httpx.AsyncClient, token: str, uid: str) -> Site | None:
        try:
            answer = await http.get(f"{self.identity_url}/sites",
                                    params={"repository_unique_id": uid},
                                    headers={"Authorization": f"Bearer {token}"})
        except httpx.TimeoutException:
            raise ImagingProblem(504, "the site directory did not answer in time") from None
        except httpx.HTTPError as exc:
            raise ImagingProblem(502, f"the site directory could not be read: {exc}") from None
        if answer.status_code != 200:
            raise ImagingProblem(502, f"the site directory answered {answer.status_code}")
        try:
            rows = answer.json()
            found = [Site(oid=str(r["oid"]), name=str(r["name"]),
                          repository_unique_id=str(r["repository_unique_id"]),
                          wado_rs_url=str(r.get("wado_rs_url") or "").rstrip("/"),
                          active=bool(r["active"]))
                     for r in rows if r.get("repository_unique_id") == uid]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ImagingProblem(502, f"the site directory answered unreadably: {exc}") from None
        return found[0] if found else None
