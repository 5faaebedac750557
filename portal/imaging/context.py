"""Everything the image routes share for the portal's lifetime: one HTTP client with keep-alive
to the gateways and the site directory, the caches, the send jobs.

Per request the cost is kept small: the registry's decision that this user may see this study
(ITI-18 GetDocuments with the user's token, so the registry's consent filter has its say) is
kept 30 s per (session, study), the resolved manifest 60 s per document, the site directory
30 s; concurrent requests for the same key wait for one lookup instead of each making their
own. The consent service's own decision is asked every time (``portal.consent``, its client
caches ≤ 5 s), so a policy change closes a study within 5 s.

``create_app`` builds it in its lifespan::

    async with ImagingContext.open(settings, consent) as imaging:
        app.state.imaging = imaging
        yield
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import Response
from starlette.concurrency import run_in_threadpool

from partage.web.auth import SignedInUser
from portal.consent import ConsentPoint, ConsentRefused
from portal.core.config import PortalSettings
from portal.imaging import proxy
from portal.imaging.diskcache import DiskCache
from portal.imaging.lru import TtlLru
from portal.imaging.manifests import SharedSeries, SharedStudy, retrieve_manifest
from portal.imaging.problems import ImagingProblem
from portal.imaging.send import Jobs
from portal.imaging.series import series_list
from portal.imaging.singleflight import SingleFlight
from portal.imaging.sites import Site, SiteDirectory
from partage.regional_studies import StudyEntry, StudyWithheld, get_study

log = logging.getLogger(__name__)

ACCESS_TTL_S = 30.0
#: the Accept the viewer sends for series metadata (the disk cache keys on it)
VIEWER_METADATA_ACCEPT = "application/dicom+json"
MANIFEST_TTL_S = 60.0


@dataclass(frozen=True)
class OpenStudy:
    """A study this user may see (the registry said so) and what its manifest shares."""

    entry: StudyEntry
    shared: SharedStudy


class ImagingContext:
    """The image path's shared state for the app's lifetime (module docstring)."""

    def __init__(self, settings: PortalSettings, http: httpx.AsyncClient,
                 consent: ConsentPoint) -> None:
        self.settings = settings
        self.http = http
        self.consent = consent
        self.sites = SiteDirectory(settings.identity_url)
        self.metadata = DiskCache(settings.resolved_cache_dir() / "metadata",
                                  settings.cache_max_bytes)
        self.jobs = Jobs()
        self._warming: set[asyncio.Task[None]] = set()
        self._access: TtlLru[tuple[str, str], StudyEntry] = TtlLru(4096, ACCESS_TTL_S)
        self._manifests: TtlLru[str, SharedStudy] = TtlLru(256, MANIFEST_TTL_S)
        self.flights = SingleFlight()

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: PortalSettings, consent: ConsentPoint
                   ) -> AsyncIterator[ImagingContext]:
        timeout = httpx.Timeout(settings.upstream_timeout_s, connect=5.0)
        limits = httpx.Limits(max_connections=128, max_keepalive_connections=32)
        async with httpx.AsyncClient(timeout=timeout, limits=limits) as http:
            context = cls(settings, http, consent)
            try:
                yield context
            finally:
                for task in list(context._warming):
                    task.cancel()
                await asyncio.gather(*context._warming, return_exceptions=True)
                await context.jobs.aclose()

    async def entry(self, user: SignedInUser, entry_id: str) -> StudyEntry:
        """The registry's entry of this study for this user (ITI-18 GetDocuments with the
        user's token, remembered 30 s per session), once the consent service permits it; 404
        when the registry does not give it, 403 with the reason when the patient's policy
        refuses it."""
        entry = await self._registry_entry(user.session_id, user.access_token, entry_id)
        try:
            await self.consent.check(user.principal, entry)
        except ConsentRefused as exc:
            raise ImagingProblem(403, exc.decision.reason_text) from None
        return entry

    async def _registry_entry(self, session_id: str, token: str, entry_id: str) -> StudyEntry:
        key = (session_id, entry_id)
        found = self._access.get(key)
        if found is not None:
            return found

        async def ask() -> StudyEntry:
            # RegistryUnavailable / RegistryRefused / TokenRefused propagate: the app answers
            # them as it does for every page (502 problem; 401 and the session forgets the token)
            try:
                entry = await run_in_threadpool(get_study, self.settings, token, entry_id)
            except StudyWithheld as exc:
                raise ImagingProblem(403, exc.withheld.text) from None
            if entry is None:
                raise ImagingProblem(404, f"no study {entry_id} is available to you")
            self._access.put(key, entry)
            return entry

        return await self.flights.run(("entry", *key), ask)

    async def study(self, user: SignedInUser, entry_id: str) -> OpenStudy:
        """The study, once the registry and the consent service allowed it for this user, with
        its resolved manifest."""
        token = user.access_token
        entry = await self.entry(user, entry_id)
        shared = self._manifests.get(entry.id)
        if shared is None:
            async def resolve() -> SharedStudy:
                resolved = await run_in_threadpool(
                    lambda: retrieve_manifest(
                        self.settings.repository_url, token, document_id=entry.id,
                        repository_unique_id=entry.repository_unique_id,
                        document_unique_id=entry.unique_id,
                        home_community_id=entry.home_community_id or None,
                        timeout=self.settings.upstream_timeout_s))
                self._manifests.put(entry.id, resolved)
                return resolved

            shared = await self.flights.run(("manifest", entry.id), resolve)
        return OpenStudy(entry, shared)

    async def site(self, token: str, series: SharedSeries) -> Site:
        """The site whose gateway serves this series (its Retrieve Location UID)."""
        return await self.flights.run(
            ("site", series.retrieve_location_uid),
            lambda: self.sites.site_for(self.http, token, series.retrieve_location_uid))

    def site_of(self, token: str) -> Callable[[SharedSeries], Awaitable[Site]]:
        return lambda series: self.site(token, series)

    async def listing(self, token: str, shared: SharedStudy) -> list[dict[str, Any]]:
        """The viewer's series of a study (``portal.imaging.series``), one lookup at a time per
        study: the same for every user the registry lets see it."""
        return await self.flights.run(("series", shared.document_id), lambda: series_list(
            self.http, self.metadata, shared, token, self.site_of(token)))

    async def series_metadata(self, token: str, shared: SharedStudy, path: str, *,
                              accept: str | None, query: str, wado_root: str) -> Response:
        """A shared series' metadata (``portal.imaging.proxy.series_metadata``)."""
        checked = proxy.target(shared, path)
        site = await self.site(token, checked.series)
        return await proxy.series_metadata(self.http, self.metadata, self.flights, site, shared,
                                           checked, token, accept=accept, query=query,
                                           wado_root=wado_root)

    def warm(self, user: SignedInUser, entry_ids: list[str], *, root_path: str = "") -> None:
        """Start, in the background, what opening these studies in the viewer will ask for: the
        registry's decision, the manifest, the series list and the metadata of each study's
        largest series (the one the viewer shows first), so that the gateways read them from
        their PACS while the browser is still on its way. Failures are only logged: the
        viewer's own requests will meet them again and report them."""
        for entry_id in entry_ids:
            task = asyncio.create_task(self._warm(user, entry_id, root_path))
            self._warming.add(task)
            task.add_done_callback(self._warming.discard)

    async def warmed(self) -> None:
        """Wait until the warming started so far has ended."""
        await asyncio.gather(*self._warming, return_exceptions=True)

    async def _warm(self, user: SignedInUser, entry_id: str, root_path: str) -> None:
        token = user.access_token
        try:
            shared = (await self.study(user, entry_id)).shared
            listing = await self.listing(token, shared)
            if not listing:
                return
            largest = max(listing, key=lambda s: s["numberOfInstances"])
            path = (f"studies/{shared.study_instance_uid}/series/"
                    f"{largest['seriesInstanceUid']}/metadata")
            await self.series_metadata(token, shared, path, accept=VIEWER_METADATA_ACCEPT,
                                       query="",
                                       wado_root=f"{root_path}/dicomweb/{shared.document_id}")
        except Exception as exc:  # the viewer's own requests report failures to the user
            log.info("warming study %s failed: %s", entry_id, exc)
