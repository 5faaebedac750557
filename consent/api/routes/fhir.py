"""The patient's consent as FHIR (IHE PCF): the current Consent and its version history."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from consent import crud, fhir
from consent.api.deps import Caller, Ctx, may_read
from partage.problems import Problem

router = APIRouter(prefix="/patients/{ins}/Consent", tags=["fhir"])

FHIR_JSON = "application/fhir+json"


@router.get("", summary="The patient's current policy as a FHIR R4 Consent (404: never chosen)",
            response_class=Response, responses={200: {"content": {FHIR_JSON: {}}}})
def current(ins: str, ctx: Ctx, caller: Caller) -> Response:
    patient = ctx.patient_cx(ins)
    may_read(ctx, caller, patient)
    with ctx.db.session() as session:
        policy = crud.current(session, patient=patient)
    if policy.version == 0:
        raise Problem(404, "the patient has recorded no consent: the region's default applies")
    resource = fhir.consent(policy, ctx.rules, ctx.settings.regional_authority)
    return Response(resource.model_dump_json(exclude_none=True), media_type=FHIR_JSON,
                    headers={"ETag": f'W/"{policy.version}"'})


@router.get("/_history", summary="Every version of the patient's Consent as a FHIR history "
            "Bundle, newest first", response_class=Response,
            responses={200: {"content": {FHIR_JSON: {}}}})
def versions(ins: str, ctx: Ctx, caller: Caller, request: Request) -> Response:
    patient = ctx.patient_cx(ins)
    may_read(ctx, caller, patient)
    with ctx.db.session() as session:
        policies = crud.history(session, patient=patient)
    base_url = str(request.url).split("/Consent", 1)[0]
    bundle = fhir.history(policies, ctx.rules, ctx.settings.regional_authority, base_url)
    return Response(bundle.model_dump_json(exclude_none=True), media_type=FHIR_JSON)
