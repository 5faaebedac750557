"""The portal's image path (DESIGN.md step 5): a study's series for the viewer, the same-origin
WADO-RS proxy to the owning gateway, the study as a DICOM zip, and sending it to the reading
site's PACS as a background job.

Every route first asks the registry, with the user's token, and the consent service whether this
user may see the study (``ImagingContext.study``: 403 with the patient's reason when refused),
then works only with what the study's KOS manifest shares.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from partage.web.auth import SignedInUser
from partage.web.csrf import CsrfChecked
from portal.api.deps import Professional
from portal.audit import client_address
from portal.imaging import proxy
from portal.imaging.context import ImagingContext, OpenStudy
from portal.imaging.download import archive_name, zip_stream
from portal.imaging.exports import record_export
from portal.imaging.problems import ImagingProblem
from portal.imaging.retrieve import shared_instances
from portal.imaging.send import destination, send_study
from portal.problems import PROBLEM_JSON

router = APIRouter(tags=["images"])
PROBLEMS: dict[int | str, dict[str, object]] = {
    status: {"description": description, "content": {PROBLEM_JSON: {}}}
    for status, description in ((401, "not signed in"),
                                (403, "not a professional, or refused by the patient's policy"),
                                (404, "no such study for this user"),
                                (502, "registry, repository, directory or gateway failed"),
                                (503, "the consent service cannot answer"),
                                (504, "an upstream service was too slow"))
}


def imaging_context(request: Request) -> ImagingContext:
    context: ImagingContext = request.app.state.imaging
    return context


Imaging = Annotated[ImagingContext, Depends(imaging_context)]


class StudyHeader(BaseModel):
    id: str
    studyInstanceUid: str
    site: str
    date: str
    modality: str
    description: str
    accession: str


class SeriesItem(BaseModel):
    seriesInstanceUid: str
    modality: str
    description: str
    seriesNumber: int | None
    numberOfInstances: int
    #: an instance to render as the series' thumbnail without reading the series' metadata
    thumbnailSopInstanceUid: str


class StudySeries(BaseModel):
    study: StudyHeader
    wadoRoot: str
    series: list[SeriesItem]


class JobProgress(BaseModel):
    state: str
    done: int
    total: int
    failed: int
    error: str | None


class JobStarted(JobProgress):
    id: str
    href: str


async def _open(imaging: ImagingContext, user: SignedInUser, study_id: str) -> OpenStudy:
    return await imaging.study(user, study_id)


def wado_root(request: Request, study_id: str) -> str:
    """The study's DICOMweb root as the browser reaches it (behind a reverse proxy that mounts
    the portal under a path, ASGI's ``root_path`` is that path)."""
    return f"{request.scope.get('root_path', '')}/dicomweb/{study_id}"


@router.get("/api/studies/{study_id}/series", summary="A study's shared series, for the viewer",
            response_model=StudySeries, responses=PROBLEMS)
async def study_series(study_id: str, request: Request, user: Professional,
                       imaging: Imaging) -> StudySeries:
    opened = await _open(imaging, user, study_id)
    entry, shared = opened.entry, opened.shared
    series = await imaging.listing(user.access_token, shared)
    site = entry.site or (await imaging.site(user.access_token, shared.series[0])).name
    day = entry.date or (shared.study_date.isoformat() if shared.study_date else "")
    modalities = entry.modalities or tuple(
        dict.fromkeys(s["modality"] for s in series if s["modality"]))
    return StudySeries(
        study=StudyHeader(id=entry.id, studyInstanceUid=shared.study_instance_uid, site=site,
                          date=day, modality="/".join(modalities),
                          description=entry.description, accession=entry.accession),
        wadoRoot=wado_root(request, entry.id),
        series=[SeriesItem(**s) for s in series],
    )


@router.get("/dicomweb/{study_id}/{path:path}",
            summary="WADO-RS of a shared study, proxied to its site's gateway",
            response_class=Response, responses=PROBLEMS)
async def dicomweb(study_id: str, path: str, request: Request, user: Professional,
                   imaging: Imaging) -> Response:
    opened = await _open(imaging, user, study_id)
    target = proxy.target(opened.shared, path)
    accept = request.headers.get("accept")
    query = request.url.query
    if target.is_series_metadata:
        return await imaging.series_metadata(
            user.access_token, opened.shared, path, accept=accept, query=query,
            wado_root=wado_root(request, opened.entry.id))
    site = await imaging.site(user.access_token, target.series)
    return await proxy.forward(imaging.http, site, target, user.access_token, accept=accept,
                               query=query)


async def _primed(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """``chunks`` with its first item already read: a failure before the first byte (gateway
    down, site suspended) is raised here, as a problem, not as a broken download."""
    first = await anext(chunks, b"")

    async def rest() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    return rest()


@router.get("/api/studies/{study_id}/download", summary="The shared study as a DICOM zip",
            response_class=StreamingResponse, responses=PROBLEMS)
async def download(study_id: str, request: Request, user: Professional,
                   imaging: Imaging) -> StreamingResponse:
    opened = await _open(imaging, user, study_id)
    shared = opened.shared
    name = archive_name(shared.patient_name, shared.patient_id, shared.study_date)
    instances = shared_instances(imaging.http, shared, user.access_token,
                                 imaging.site_of(user.access_token))
    body = await _primed(zip_stream(instances))
    record_export(request.app.state.audit, user.principal, action="download",
                  document_id=opened.entry.id, document_unique_id=opened.entry.unique_id,
                  study_instance_uid=shared.study_instance_uid,
                  patient_id=opened.entry.patient_id, destination=name,
                  instances=shared.number_of_instances, address=client_address(request),
                  emergency_reason=await imaging.consent.emergency_reason(
                      user.principal, opened.entry))
    disposition = f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"
    return StreamingResponse(body, media_type="application/zip",
                             headers={"Content-Disposition": disposition})


@router.post("/api/studies/{study_id}/send", summary="Send the shared study to the local PACS",
             status_code=202, response_model=JobStarted, responses={
                 **PROBLEMS, 409: {"description": "no local PACS configured",
                                   "content": {PROBLEM_JSON: {}}}})
async def send(study_id: str, request: Request, user: Professional, _: CsrfChecked,
               imaging: Imaging) -> JobStarted:
    configured = imaging.settings.export_pacs
    if not configured:
        raise ImagingProblem(409, "sending to a PACS is not offered: no local PACS is "
                                  "configured (PARTAGE_PORTAL_EXPORT_PACS)")
    try:
        pacs = destination(configured)
    except ValueError as exc:
        raise ImagingProblem(409, str(exc)) from None
    opened = await _open(imaging, user, study_id)
    shared = opened.shared
    job = imaging.jobs.new(user.principal.subject, shared.number_of_instances)
    instances = shared_instances(imaging.http, shared, user.access_token,
                                 imaging.site_of(user.access_token))
    sop_classes = {c for s in shared.series for c in s.instances.values()}
    imaging.jobs.run(send_study(job, instances, ae_title=imaging.settings.ae_title, target=pacs,
                                sop_classes=sop_classes,
                                timeout=imaging.settings.upstream_timeout_s))
    record_export(request.app.state.audit, user.principal, action="send",
                  document_id=opened.entry.id, document_unique_id=opened.entry.unique_id,
                  study_instance_uid=shared.study_instance_uid,
                  patient_id=opened.entry.patient_id, destination=configured,
                  instances=shared.number_of_instances, address=client_address(request),
                  emergency_reason=await imaging.consent.emergency_reason(
                      user.principal, opened.entry))
    return JobStarted.model_validate({"id": job.id, "href": f"/api/jobs/{job.id}",
                                      **job.progress()})


@router.get("/api/jobs/{job_id}", summary="Progress of a send to the local PACS",
            response_model=JobProgress, responses=PROBLEMS)
async def job_progress(job_id: str, user: Professional, imaging: Imaging) -> JobProgress:
    return JobProgress.model_validate(imaging.jobs.get(job_id, user.principal.subject).progress())
