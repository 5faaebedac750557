"""RAD-55 WADO Retrieve (RAD TF-3 §4.55; PS3.18 §9: WADO-URI).

``GET /wado?requestType=WADO&studyUID=…&seriesUID=…&objectUID=…&contentType=…`` answers one
instance as ``application/dicom`` (``transferSyntax``, default Explicit VR Little Endian,
§9.1.2.4.3) or rendered as ``image/jpeg`` (the default, §9.1.2.2.1) or ``image/png``
(``windowCenter``/``windowWidth``, ``frameNumber``, ``imageQuality``). Missing or invalid
parameters give 400; UIDs that name nothing (empty ones included) 404, as NIST ids_2018-4810
expects. The bearer token travels in the Authorization header only.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Response
from pydicom.uid import ExplicitVRLittleEndian

from gateway import imaging
from gateway.api.deps import GatewayContext
from gateway.api.serving import RAD_55, instance, permit
from partage.auth import Principal

CONTENT_TYPES = ("application/dicom", "image/jpeg", "image/png")


def make_router(ctx: GatewayContext) -> APIRouter:
    router = APIRouter(tags=["wado-uri"])
    authenticated = ctx.principal()

    @router.get("/wado", summary="WADO-URI retrieve of one instance (RAD-55)")
    def wado(
        request_type: str = Query(alias="requestType"),
        study_uid: str = Query(alias="studyUID"),
        series_uid: str = Query(alias="seriesUID"),
        object_uid: str = Query(alias="objectUID"),
        content_type: str = Query("image/jpeg", alias="contentType"),
        transfer_syntax: str | None = Query(None, alias="transferSyntax"),
        frame_number: int = Query(1, alias="frameNumber", ge=1),
        window_center: float | None = Query(None, alias="windowCenter"),
        window_width: float | None = Query(None, alias="windowWidth", ge=1),
        image_quality: int = Query(90, alias="imageQuality", ge=1, le=100),
        principal: Principal = authenticated,
    ) -> Response:
        if request_type != "WADO":
            raise HTTPException(400, f"requestType must be WADO, not {request_type!r}")
        media_type = next((t for t in CONTENT_TYPES if t in content_type.split(",")), None)
        if media_type is None:
            raise HTTPException(406, f"contentType {content_type!r}: offered "
                                     f"{', '.join(CONTENT_TYPES)}")
        if (window_center is None) != (window_width is None):
            raise HTTPException(400, "windowCenter and windowWidth go together")
        study_uid, series_uid, object_uid = study_uid.strip(), series_uid.strip(), object_uid.strip()
        if not (study_uid and series_uid and object_uid):
            raise HTTPException(404, "empty studyUID, seriesUID or objectUID")
        permit(ctx.access, principal, study_uid, RAD_55)
        data = instance(ctx, study_uid, series_uid, object_uid)

        if media_type == "application/dicom":
            stored = imaging.stored_syntax(data)
            wanted = transfer_syntax or ExplicitVRLittleEndian
            syntax = imaging.choose_syntax(stored, [wanted])
            if syntax is None:
                raise HTTPException(406, f"instance stored as {stored}; cannot supply {wanted}")
            return Response(imaging.in_syntax(data, syntax, stored), media_type=media_type)
        window = (window_center, window_width) if window_center is not None else None
        try:
            image = imaging.render(data, frame_number, media_type, window,  # type: ignore[arg-type]
                                   image_quality)
        except imaging.ImagingError as exc:
            raise HTTPException(404, str(exc)) from exc
        return Response(image, media_type=media_type)

    return router
