"""RAD-107 WADO-RS Retrieve (RAD TF-3 §4.107; PS3.18 §10.4): studies, series and instances as
``multipart/related; type="application/dicom"`` streamed instance by instance, their metadata
as DICOM JSON, frames as ``application/octet-stream`` and rendered images (JPEG, PNG).

A whole study or series the cache holds is served from its files alone (once the short-lived
catalogue confirms the PACS still has it; no parsing), with a Content-Length when every
instance goes out as stored; anything else is read through the cache from the PACS. Either
way one worker thread reads ahead of the socket (``ThreadedBody``).

Every route validates the bearer token, asks ``gateway.access`` (403; 503 without the consent
service), resolves the UIDs on the
PACS (404; 503 when it is down) and only then streams. Accept is negotiated (PS3.18 §8.7):
406 when nothing acceptable can be produced.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydicom.uid import ExplicitVRLittleEndian

from gateway import imaging
from gateway.api.deps import GatewayContext
from gateway.api.media import (
    Multipart,
    negotiate_multipart,
    negotiate_single,
    parse_accept,
    transfer_syntaxes,
)
from gateway.api.serving import instance, permit, resolve, started
from gateway.api.streaming import ThreadedBody
from gateway.cache import Held
from gateway.pacs.base import MetadataPacs
from gateway.retrieve import Selection, read
from partage.auth import Principal

DICOM = "application/dicom"
OCTETS = "application/octet-stream"
DICOM_JSON = ("application/dicom+json", "application/json")
RENDERED = ("image/jpeg", "image/png")


def _not_acceptable(request: Request, offered: str) -> HTTPException:
    return HTTPException(406, f"cannot produce {request.headers.get('accept')!r}; "
                              f"this resource is offered as {offered}")


def _frame_numbers(value: str) -> list[int]:
    try:
        numbers = [int(n) for n in value.split(",")]
    except ValueError:
        raise HTTPException(400, f"frame list {value!r} is not comma-separated numbers") from None
    if not numbers or min(numbers) < 1:
        raise HTTPException(400, "frame numbers start at 1")
    return numbers


def _window(value: str | None) -> tuple[float, float] | None:
    """``window=center,width[,function]`` (PS3.18 §8.3.5.1.3); only LINEAR is applied."""
    if value is None:
        return None
    parts = value.split(",")
    try:
        center, width = float(parts[0]), float(parts[1])
    except (IndexError, ValueError):
        raise HTTPException(400, f"window {value!r} is not center,width[,function]") from None
    if width < 1 or (len(parts) > 2 and parts[2].strip().upper() not in ("", "LINEAR")):
        raise HTTPException(400, f"window {value!r}: width ≥ 1 and LINEAR only")
    return center, width


def _from_pacs_metadata(pacs: MetadataPacs, selection: Selection, base: str,
                        media_type: str) -> Response:
    """Metadata of a series or study the cache does not hold, as the PACS describes it (no
    pixel data crosses): pixel data points at this gateway's frames, and other bulk data the
    PACS would serve itself is left out, so nothing in the answer leads past the gateway."""
    models = pacs.metadata(selection.study_instance_uid, selection.series_uid)
    if not models:
        raise HTTPException(404, f"the PACS has no metadata for study "
                                 f"{selection.study_instance_uid}")
    for model in models:
        for tag in [t for t, v in model.items() if isinstance(v, dict) and "BulkDataURI" in v]:
            if tag != "7FE00010":
                del model[tag]
        pixels = model.get("7FE00010")
        if pixels is not None:
            sop = model["00080018"]["Value"][0]
            series = model["0020000E"]["Value"][0]
            pixels["BulkDataURI"] = (
                f"{base}/studies/{selection.study_instance_uid}/series/{series}/instances/"
                f"{sop}/frames/{_frames_of(selection, sop, model)}")
    return Response(json.dumps(models), media_type=media_type)


def make_router(ctx: GatewayContext) -> APIRouter:
    router = APIRouter(prefix="/wado-rs", tags=["wado-rs"])
    authenticated = ctx.principal()
    pacs = ctx.pacs

    def instances(request: Request, principal: Principal, study: str,
                  series: str | None = None, sop: str | None = None) -> Response:
        permit(ctx.access, principal, study)
        chosen = negotiate_multipart(parse_accept(request.headers.get("accept")), [DICOM])
        if chosen is None:
            raise _not_acceptable(request, f'multipart/related; type="{DICOM}"')
        accepted = transfer_syntaxes(chosen[1], ExplicitVRLittleEndian)
        body = Multipart(DICOM)
        selection = resolve(pacs, study, series, sop, ctx.cache)  # 404 for what the PACS lost
        held = ctx.cache.hold(study, series) if sop is None else None
        if held is not None:
            return _from_cache(held, accepted, body)

        def parts() -> Iterator[bytes]:
            for head, data in read(pacs, ctx.cache, selection):
                yield _in_accepted(data, head.sop_instance_uid, head.transfer_syntax_uid,
                                   accepted)

        return ThreadedBody(body.stream(started(parts())), body.content_type)

    def metadata(request: Request, principal: Principal, study: str,
                 series: str | None = None, sop: str | None = None) -> Response:
        permit(ctx.access, principal, study)
        media_type = negotiate_single(parse_accept(request.headers.get("accept")), DICOM_JSON)
        if media_type is None:
            raise _not_acceptable(request, " or ".join(DICOM_JSON))
        selection = resolve(pacs, study, series, sop, ctx.cache)
        base = f"{ctx.settings.public_url.rstrip('/')}/wado-rs"
        if sop is None and isinstance(pacs, MetadataPacs) and not _cached(study, series):
            return _from_pacs_metadata(pacs, selection, base, media_type)

        def items() -> Iterator[str]:
            for head, data in read(pacs, ctx.cache, selection):
                uri = (f"{base}/studies/{head.study_instance_uid}/series/"
                       f"{head.series_instance_uid}/instances/{head.sop_instance_uid}")
                model = imaging.dicom_json(data, "")
                frames = _frames_of(selection, head.sop_instance_uid, model)
                if "BulkDataURI" in model.get("7FE00010", {}):
                    model["7FE00010"]["BulkDataURI"] = f"{uri}/frames/{frames}"
                yield json.dumps(model)

        def array(first: Iterator[str]) -> Iterator[bytes]:
            for i, item in enumerate(first):
                yield (b"[" if i == 0 else b",") + item.encode()
            yield b"]"

        return StreamingResponse(array(started(items())), media_type=media_type)

    def _cached(study: str, series: str | None) -> bool:
        held = ctx.cache.hold(study, series)
        if held is not None:
            held.release()
        return held is not None

    def one_instance(principal: Principal, study: str, series: str, sop: str) -> bytes:
        permit(ctx.access, principal, study)
        return instance(ctx, study, series, sop)

    @router.get("/studies/{study}", summary="Retrieve a study (PS3.18 §10.4.1.1.1)")
    def study_route(request: Request, study: str, principal: Principal = authenticated
                    ) -> Response:
        return instances(request, principal, study)

    @router.get("/studies/{study}/series/{series}", summary="Retrieve a series")
    def series_route(request: Request, study: str, series: str,
                     principal: Principal = authenticated) -> Response:
        return instances(request, principal, study, series)

    @router.get("/studies/{study}/series/{series}/instances/{sop}",
                summary="Retrieve an instance")
    def instance_route(request: Request, study: str, series: str, sop: str,
                       principal: Principal = authenticated) -> Response:
        return instances(request, principal, study, series, sop)

    @router.get("/studies/{study}/metadata", summary="Study metadata (PS3.18 §10.4.1.1.2)")
    def study_metadata(request: Request, study: str, principal: Principal = authenticated
                       ) -> Response:
        return metadata(request, principal, study)

    @router.get("/studies/{study}/series/{series}/metadata", summary="Series metadata")
    def series_metadata(request: Request, study: str, series: str,
                        principal: Principal = authenticated) -> Response:
        return metadata(request, principal, study, series)

    @router.get("/studies/{study}/series/{series}/instances/{sop}/metadata",
                summary="Instance metadata")
    def instance_metadata(request: Request, study: str, series: str, sop: str,
                          principal: Principal = authenticated) -> Response:
        return metadata(request, principal, study, series, sop)

    @router.get("/studies/{study}/series/{series}/instances/{sop}/frames/{frame_list}",
                summary="Frames, uncompressed (PS3.18 §10.4.1.1.4)")
    def frames_route(request: Request, study: str, series: str, sop: str, frame_list: str,
                     principal: Principal = authenticated) -> Response:
        numbers = _frame_numbers(frame_list)
        chosen = negotiate_multipart(parse_accept(request.headers.get("accept")), [OCTETS])
        if chosen is None or transfer_syntaxes(chosen[1], ExplicitVRLittleEndian)[0] not in (
                "*", ExplicitVRLittleEndian):
            raise _not_acceptable(
                request, f'multipart/related; type="{OCTETS}"; '
                         f'transfer-syntax={ExplicitVRLittleEndian}')
        data = one_instance(principal, study, series, sop)
        try:
            cut = imaging.frames(data, numbers)
        except imaging.ImagingError as exc:
            raise HTTPException(404, str(exc)) from exc
        body = Multipart(OCTETS)
        return Response(b"".join(body.stream(cut)), media_type=body.content_type)

    def rendered(request: Request, principal: Principal, study: str, series: str, sop: str,
                 frame: int, window: str | None, quality: int) -> Response:
        media_type = negotiate_single(parse_accept(request.headers.get("accept")), RENDERED)
        if media_type is None:
            raise _not_acceptable(request, " or ".join(RENDERED))
        voi = _window(window)
        data = one_instance(principal, study, series, sop)
        try:
            image = imaging.render(data, frame, media_type, voi, quality)
        except imaging.ImagingError as exc:
            raise HTTPException(404, str(exc)) from exc
        return Response(image, media_type=media_type)

    @router.get("/studies/{study}/series/{series}/instances/{sop}/rendered",
                summary="Instance rendered as JPEG or PNG (PS3.18 §10.4.1.1.3); first frame")
    def instance_rendered(request: Request, study: str, series: str, sop: str,
                          window: str | None = None,
                          quality: int = Query(90, ge=1, le=100),
                          principal: Principal = authenticated) -> Response:
        return rendered(request, principal, study, series, sop, 1, window, quality)

    @router.get("/studies/{study}/series/{series}/instances/{sop}/frames/{frame}/rendered",
                summary="One frame rendered as JPEG or PNG")
    def frame_rendered(request: Request, study: str, series: str, sop: str, frame: str,
                       window: str | None = None,
                       quality: int = Query(90, ge=1, le=100),
                       principal: Principal = authenticated) -> Response:
        numbers = _frame_numbers(frame)
        if len(numbers) != 1:
            raise HTTPException(400, "a rendered frame request names one frame")
        return rendered(request, principal, study, series, sop, numbers[0], window, quality)

    return router


def _in_accepted(data: bytes, sop: str, stored: str, accepted: list[str]) -> bytes:
    """The instance in a syntax the client accepts (406 when there is none)."""
    syntax = imaging.choose_syntax(stored, accepted)
    if syntax is None:
        raise HTTPException(406, f"instance {sop} is stored as {stored}, not in {accepted}")
    return imaging.in_syntax(data, syntax, stored)


def _from_cache(held: Held, accepted: list[str], body: Multipart) -> Response:
    """A cached whole study or series, file after file; its Content-Length when the index
    knows every instance's syntax and each goes out untouched (else chunked, as transcoded)."""
    served = [(i, i.transfer_syntax_uid and imaging.choose_syntax(i.transfer_syntax_uid,
                                                                   accepted))
              for i in held.instances]
    refused = next((i for i, syntax in served if i.transfer_syntax_uid and syntax is None), None)
    if refused is not None:
        held.release()
        raise HTTPException(406, f"instance {refused.sop_instance_uid} is stored as "
                                 f"{refused.transfer_syntax_uid}, not in {accepted}")
    untouched = all(syntax and syntax == i.transfer_syntax_uid for i, syntax in served)

    def parts() -> Iterator[bytes]:
        try:
            for instance, data in held.files():
                if untouched:
                    yield data
                else:
                    stored = instance.transfer_syntax_uid or imaging.stored_syntax(data)
                    yield _in_accepted(data, instance.sop_instance_uid, stored, accepted)
        finally:
            held.release()

    length = body.length([i.size for i in held.instances]) if untouched else None
    return ThreadedBody(body.stream(started(parts())), body.content_type, length)


def _frames_of(selection: Selection, sop: str, model: dict | None = None) -> str:
    """``1,2,…,n`` for the instance's frames (its Number of Frames as the PACS listed it, else
    as the instance's own header says; 1 when absent)."""
    count = next((i.number_of_frames for _, i in selection.instances
                  if i.sop_instance_uid == sop), None)
    if count is None and model is not None:
        try:
            count = int(model["00280008"]["Value"][0])
        except (KeyError, IndexError, TypeError, ValueError):
            count = None
    count = count or 1
    return ",".join(str(n) for n in range(1, count + 1))
