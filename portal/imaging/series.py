"""The viewer's series list of a study (``GET /api/studies/{id}/series``): series UIDs and
instance counts from the manifest, modality / description / series number from the owning
gateway (the metadata of one shared instance per series, asked concurrently and kept in the disk
cache: one request per series, never one per instance)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from portal.imaging import upstream
from portal.imaging.diskcache import DiskCache
from portal.imaging.manifests import SharedSeries, SharedStudy
from portal.imaging.problems import ImagingProblem
from portal.imaging.sites import Site


def _first(item: dict[str, Any], tag: str) -> Any:
    try:
        return item[tag]["Value"][0]
    except (KeyError, IndexError, TypeError):
        return None


async def series_head(http: httpx.AsyncClient, cache: DiskCache, site: Site,
                      study: SharedStudy, series: SharedSeries, token: str) -> dict[str, Any]:
    """``seriesInstanceUid``, ``modality``, ``description``, ``seriesNumber``,
    ``numberOfInstances`` and ``thumbnailSopInstanceUid`` of one shared series."""
    instances = list(series.instances)
    sop = instances[0]
    path = (f"studies/{study.study_instance_uid}/series/{series.series_instance_uid}"
            f"/instances/{sop}/metadata")
    key = f"{study.document_id}|{path}|head"
    data = cache.get(key)
    if data is None:
        response = await upstream.send(http, site, path, token, accept=upstream.DICOM_JSON,
                                       stream=False)
        if response.status_code != 200:
            raise await upstream.failure(response, site)
        data = response.content
        cache.put(key, data)
    try:
        items = json.loads(data)
    except ValueError:
        items = None
    if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
        raise ImagingProblem(502, f"site {site.name} answered unreadable metadata for "
                                  f"instance {sop}")
    item = items[0]
    return {
        "seriesInstanceUid": series.series_instance_uid,
        "modality": str(_first(item, "00080060") or ""),
        "description": str(_first(item, "0008103E") or ""),
        "seriesNumber": _integer(_first(item, "00200011")),
        "numberOfInstances": len(series.instances),
        # a thumbnail without the whole series' metadata (the manifest's middle instance)
        "thumbnailSopInstanceUid": instances[len(instances) // 2],
    }


def _integer(value: Any) -> int | None:
    """An IS value as DICOM JSON gives it (a number, or a string when the sender kept it)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


async def series_list(http: httpx.AsyncClient, cache: DiskCache, study: SharedStudy,
                      token: str, site_of: Callable[[SharedSeries], Awaitable[Site]]
                      ) -> list[dict[str, Any]]:
    """Every shared series, by series number (those without one last, in manifest order)."""

    async def one(series: SharedSeries) -> dict[str, Any]:
        return await series_head(http, cache, await site_of(series), study, series, token)

    found = await asyncio.gather(*(one(s) for s in study.series))
    return sorted(found, key=lambda s: (s["seriesNumber"] is None, s["seriesNumber"] or 0))
