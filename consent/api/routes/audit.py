"""ITI-20 over HTTP (``POST /audit``) and the ITI-81-style AuditEvent search.

Services post their audit XML with their own bearer token; a patient reads the AuditEvents of
their own record (token ``ins`` claim), a region administrator reads everyone's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from consent.api.deps import PATIENT, REGION_ADMIN, Caller, Ctx, is_own_policy
from partage.problems import Problem, problem
from consent.audit.fhir import bundle
from consent.audit.ingest import MAX_BYTES, ingest
from consent.audit.query import search
from ihe.errors import RemoteProtocolError

router = APIRouter(tags=["audit"])

FHIR_JSON = "application/fhir+json"


@router.post("/audit", status_code=201, summary="Record an audit event (ITI-20, DICOM audit XML)",
             response_class=Response)
async def record(request: Request, ctx: Ctx, caller: Caller) -> Response:
    if not caller.roles & set(ctx.settings.audit_source_roles):
        raise Problem(403, "only services record audit messages")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BYTES:
        return problem(413, f"audit messages are limited to {MAX_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BYTES:
            return problem(413, f"audit messages are limited to {MAX_BYTES} bytes")

    def store() -> int:
        with ctx.db.session() as session:
            return ingest(session, bytes(body), transport="http").id

    try:
        record_id = await run_in_threadpool(store)  # the database is not the event loop's
    except RemoteProtocolError as exc:
        return problem(400, f"not a DICOM audit message: {exc}")
    return Response(status_code=201, headers={"Location": f"/AuditEvent/{record_id}"})


def _date(values: list[str]) -> dict[str, Any]:
    """FHIR ``date`` search prefixes ge/gt/le/lt (eq and none: that whole day or instant)."""
    bounds: dict[str, Any] = {}
    for value in values:
        prefix, text = (value[:2], value[2:]) if value[:2] in ("ge", "gt", "le", "lt") else (
            "eq", value)
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise Problem(400, f"date {value!r}: want [ge|gt|le|lt]YYYY-MM-DD[Thh:mm:ss±zz]"
                          ) from None
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        day_only = len(text) == 10
        if prefix in ("ge", "gt", "eq"):
            bounds["since"], bounds["since_inclusive"] = when, prefix != "gt"
            if prefix == "gt" and day_only:
                bounds["since"] = when.replace(hour=23, minute=59, second=59, microsecond=999999)
        if prefix in ("le", "lt", "eq"):
            end = when.replace(hour=23, minute=59, second=59, microsecond=999999) if (
                day_only and prefix != "lt") else when
            bounds["until"], bounds["until_inclusive"] = end, prefix != "lt"
    return bounds


@router.get("/AuditEvent", summary="Search audit events (ITI-81 style FHIR Bundle)")
def audit_events(request: Request, ctx: Ctx, caller: Caller,
                 patient: str | None = None, agent: str | None = None,
                 date: Annotated[list[str], Query()] = []) -> JSONResponse:  # noqa: B006
    patient_cx = ctx.patient_cx(patient) if patient else None
    if REGION_ADMIN not in caller.roles:
        if PATIENT not in caller.roles:
            raise Problem(403, "audit events are read by the patient or a region administrator")
        ins = caller.claims.get("ins")
        patient_cx = patient_cx or (ctx.patient_cx(ins) if isinstance(ins, str) else None)
        if patient_cx is None or not is_own_policy(ctx, caller, patient_cx):
            raise Problem(403, "a patient reads only the audit events of their own record")
    with ctx.db.session() as session:
        records = search(session, patient=patient_cx, agent=agent, **_date(date))
        answer = bundle(records, str(request.base_url).rstrip("/"))
    return JSONResponse(answer, media_type=FHIR_JSON)
