"""The shared instances of a study, streamed from their gateways series by series (WADO-RS
``multipart/related; type="application/dicom"``, PS3.18 §10.4.1.1.1), parsed incrementally:
only the part being read and one network chunk are held in memory.

Only what the manifest lists is given (a PACS may hold more of the study than the site shared),
and a series whose body ends early or lacks a listed instance raises: a short study never passes
for a complete one.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
from pydicom import dcmread
from pydicom.errors import InvalidDicomError

from gateway.pacs.base import PacsError
from gateway.pacs.dicomweb import MultipartReader, boundary_of
from portal.imaging import upstream
from portal.imaging.manifests import SharedSeries, SharedStudy
from portal.imaging.problems import ImagingProblem
from portal.imaging.sites import Site


@dataclass(frozen=True)
class Part10:
    """One instance as its gateway sent it (DICOM Part 10 bytes)."""

    series_instance_uid: str
    sop_instance_uid: str
    data: bytes


class RetrieveError(Exception):
    """The gateway's body was cut short, unreadable, or lacked a shared instance."""


def sop_instance_uid(data: bytes) -> str:
    """The SOP Instance UID of a Part 10 instance, read without its pixel data."""
    try:
        ds = dcmread(io.BytesIO(data), stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
    except (InvalidDicomError, EOFError, ValueError, OSError) as exc:
        raise RetrieveError(f"a part is not a DICOM instance: {exc}") from None
    return str(ds.get("SOPInstanceUID", ""))


async def shared_instances(http: httpx.AsyncClient, study: SharedStudy, token: str,
                           site_of: Callable[[SharedSeries], Awaitable[Site]]
                           ) -> AsyncIterator[Part10]:
    """Every instance the manifest lists, series after series. Failures before a series'
    first byte raise ``ImagingProblem``; later ones ``RetrieveError``."""
    for series in study.series:
        site = await site_of(series)
        path = f"studies/{study.study_instance_uid}/series/{series.series_instance_uid}"
        response = await upstream.send(http, site, path, token, accept=upstream.DICOM_ACCEPT)
        if response.status_code != 200:
            raise await upstream.failure(response, site)
        try:
            async for part in _series_parts(response, series):
                yield part
        finally:
            await response.aclose()


async def _series_parts(response: httpx.Response, series: SharedSeries
                        ) -> AsyncIterator[Part10]:
    try:
        reader = MultipartReader(boundary_of(response.headers.get("content-type", "")))
    except PacsError as exc:
        raise ImagingProblem(502, f"the gateway answered series {series.series_instance_uid} "
                                  f"with something else than DICOM: {exc}") from None
    missing = set(series.instances)
    try:
        async for chunk in response.aiter_raw():
            for data in reader.feed(chunk):
                sop = sop_instance_uid(data)
                if sop in missing:
                    missing.discard(sop)
                    yield Part10(series.series_instance_uid, sop, data)
        reader.close()
    except PacsError as exc:
        raise RetrieveError(f"series {series.series_instance_uid}: {exc}") from None
    except httpx.HTTPError as exc:
        raise RetrieveError(f"series {series.series_instance_uid}: the gateway's answer broke "
                            f"off ({type(exc).__name__})") from None
    if missing:
        raise RetrieveError(f"series {series.series_instance_uid}: {len(missing)} shared "
                            "instances were not served by the gateway")
