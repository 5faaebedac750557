"""The same-origin WADO-RS proxy (DESIGN.md step 5): the viewer's DICOMweb requests for a study
are checked against what its manifest shares, then forwarded to the owning gateway with the
user's token, Accept and query string, and the answer streamed back with its status and
content type (multipart boundaries included) untouched.

Allowed: series metadata and everything of one shared instance (retrieve, metadata, frames,
rendered, thumbnail). Study-level and whole-series retrieves are refused: a gateway would serve
what its PACS holds of them, which may be more than the site shared.

Series metadata (DICOM JSON) is read whole, cut down to the shared instances, its BulkDataURIs
pointed at the proxy, and kept in the bounded disk cache; everything else is streamed with no
buffering, and an upstream that breaks off mid-body aborts the answer (never a short 200).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import Response
from fastapi.responses import StreamingResponse

from portal.imaging import upstream
from portal.imaging.diskcache import DiskCache
from portal.imaging.manifests import SharedSeries, SharedStudy
from portal.imaging.problems import ImagingProblem
from portal.imaging.singleflight import SingleFlight
from portal.imaging.sites import Site

#: instance sub-resources a viewer uses (PS3.18 §10.4.1.1: metadata, frames, rendered,
#: thumbnail); a frame list is digits and commas
_INSTANCE_TAIL = re.compile(r"^(metadata|rendered|thumbnail|frames/[0-9,]+(/rendered)?)?$")
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
#: answer headers passed on from the gateway
PASSED_HEADERS = ("content-type", "content-length", "content-encoding", "content-location",
                  "cache-control", "etag", "last-modified", "warning")
#: the largest metadata answer read whole (a 2000-slice series is ~10 MB of DICOM JSON)
MAX_METADATA_BYTES = 64 * 1024 * 1024
METADATA = "metadata"


@dataclass(frozen=True)
class Target:
    """A checked proxy path: the shared series, the instance when one is named, and the path
    to ask the gateway for (relative to its WADO-RS root)."""

    series: SharedSeries
    sop_instance_uid: str | None
    path: str

    @property
    def is_series_metadata(self) -> bool:
        return self.sop_instance_uid is None


def target(study: SharedStudy, path: str) -> Target:
    """Check ``path`` (what follows ``/dicomweb/{id}/``) against the manifest.

    Raises ``ImagingProblem`` 404 for any path outside the shared series and instances of the
    manifest's study, naming what is not shared."""
    parts = path.strip("/").split("/")
    if len(parts) < 4 or parts[0] != "studies" or parts[2] != "series":
        raise ImagingProblem(404, f"/{path} is not served: ask for a series' metadata or an "
                                  "instance under studies/{study}/series/{series}")
    study_uid, series_uid = parts[1], parts[3]
    if study_uid != study.study_instance_uid:
        raise ImagingProblem(404, f"study {study_uid} is not the study of document "
                                  f"{study.document_id}")
    series = study.find_series(series_uid)
    if series is None:
        raise ImagingProblem(404, f"series {series_uid} is not shared by the manifest of study "
                                  f"{study_uid}")
    rest = parts[4:]
    if rest == [METADATA]:
        return Target(series, None, "/".join(parts))
    if len(rest) < 2 or rest[0] != "instances" or not _INSTANCE_TAIL.match("/".join(rest[2:])):
        raise ImagingProblem(404, f"/{path} is not served: series metadata or instance "
                                  "resources only")
    sop = rest[1]
    if not _UID.match(sop) or sop not in series.instances:
        raise ImagingProblem(404, f"instance {sop} is not shared by the manifest of study "
                                  f"{study_uid}")
    return Target(series, sop, "/".join(parts))


def _passed(response: httpx.Response) -> dict[str, str]:
    return {name: response.headers[name] for name in PASSED_HEADERS if name in response.headers}


async def forward(http: httpx.AsyncClient, site: Site, destination: Target, token: str, *,
                  accept: str | None, query: str) -> Response:
    """Stream the gateway's answer for one instance resource. Refusals (4xx but 401) are
    passed on as they are; failures to reach the gateway, its 5xx and 401 become 502/504
    problems (``upstream.passed_on``)."""
    response = await upstream.send(http, site, destination.path, token, accept=accept,
                                   query=query)
    if not upstream.passed_on(response.status_code):
        raise await upstream.failure(response, site)
    return StreamingResponse(_body(response), status_code=response.status_code,
                             headers=_passed(response))


async def _body(response: httpx.Response) -> AsyncIterator[bytes]:
    """The upstream body as it arrives; a break raises, so the server aborts the answer."""
    try:
        async for chunk in response.aiter_raw():
            yield chunk
    finally:
        await response.aclose()


def metadata_key(study: SharedStudy, destination: Target, media_type: str) -> str:
    return f"{study.document_id}|{destination.path}|{media_type}"


async def series_metadata(http: httpx.AsyncClient, cache: DiskCache, flights: SingleFlight,
                          site: Site, study: SharedStudy, destination: Target, token: str, *,
                          accept: str | None, query: str, wado_root: str) -> Response:
    """Series metadata: from the disk cache, else from the gateway (one request however many
    callers ask at once), cut down to the shared instances with BulkDataURIs rewritten to
    ``wado_root`` (the proxy's own root). A refusal of the gateway keeps its status."""
    if query:  # not a plain metadata request: forwarded as asked, not cached
        media_type, data = await _fetch_metadata(http, site, destination, token, accept=accept,
                                                 query=query, wado_root=wado_root)
        return Response(data, media_type=media_type)
    key = metadata_key(study, destination, accept or "")
    cached = cache.get(key)
    if cached is None:
        async def fetch() -> bytes:
            media_type, data = await _fetch_metadata(
                http, site, destination, token, accept=accept, query="", wado_root=wado_root)
            entry = media_type.encode() + b"\n" + data
            cache.put(key, entry)
            return entry

        cached = await flights.run(("metadata", key), fetch)
    media_type, _, data = cached.partition(b"\n")
    return Response(data, media_type=media_type.decode())


async def _fetch_metadata(http: httpx.AsyncClient, site: Site, destination: Target, token: str,
                          *, accept: str | None, query: str, wado_root: str
                          ) -> tuple[str, bytes]:
    response = await upstream.send(http, site, destination.path, token, accept=accept,
                                   query=query)
    if response.status_code != 200:
        raise await upstream.failure(response, site)
    media_type = response.headers.get("content-type", upstream.DICOM_JSON)
    body = await _read_bounded(response, site)
    # parsing a large series' JSON takes tens of ms: not on the loop that streams the frames
    data = await asyncio.to_thread(_shared_only, body, destination.series, site, wado_root)
    return media_type, data


def _shared_only(body: bytes, series: SharedSeries, site: Site, wado_root: str) -> bytes:
    """The metadata items of the shared instances, BulkDataURIs pointing at ``wado_root``."""
    try:
        items = json.loads(body)
        if not isinstance(items, list):
            raise ValueError("not a JSON array")
    except ValueError as exc:
        raise ImagingProblem(502, f"the gateway of site {site.name} answered unreadable "
                                  f"metadata: {exc}") from None
    shared = [_rebased(item, site.wado_rs_url, wado_root) for item in items
              if _sop_of(item) in series.instances]
    return json.dumps(shared, separators=(",", ":")).encode()


async def _read_bounded(response: httpx.Response, site: Site) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MAX_METADATA_BYTES:
                raise ImagingProblem(502, f"the metadata from site {site.name} exceeds "
                                          f"{MAX_METADATA_BYTES} bytes")
            chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise ImagingProblem(502, f"the gateway of site {site.name} broke off its answer "
                                  f"({type(exc).__name__})") from None
    finally:
        await response.aclose()
    return b"".join(chunks)


def _sop_of(item: object) -> str | None:
    try:
        return str(item["00080018"]["Value"][0])  # type: ignore[index]
    except (KeyError, IndexError, TypeError):
        return None


def _rebased(item: dict[str, Any], gateway_root: str, wado_root: str) -> dict[str, Any]:
    """BulkDataURIs of the gateway (``{gateway_root}/studies/…``) made proxy-relative."""
    for attribute in item.values():
        if isinstance(attribute, dict):
            uri = attribute.get("BulkDataURI")
            if isinstance(uri, str) and uri.startswith(gateway_root + "/"):
                attribute["BulkDataURI"] = wado_root + uri[len(gateway_root):]
    return item
