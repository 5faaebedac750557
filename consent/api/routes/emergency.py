"""Emergency ("break the glass") access: a professional asks, with a written reason, for a
time-limited grant on one patient; the decision point judges it as ETREAT. A grant is stored
with its audit (110127, ETREAT, the reason) in one transaction and is the patient's
notification."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from consent import crud, emergency
from consent.api.deps import Caller, Ctx
from consent.audit import own
from consent.decision import CARE_ROLES, ETREAT, Request as Asked, Target, User, decide
from consent.models import EmergencyGrant
from consent.schemas import EmergencyGrantOut, EmergencyIn
from partage.audit import requestor
from partage.consent import ConsentUser
from partage.problems import Problem, problem

router = APIRouter(prefix="/patients/{ins}/emergency-access", tags=["emergency"])


def grant_out(row: EmergencyGrant) -> EmergencyGrantOut:
    return EmergencyGrantOut(
        id=row.id, patient=row.patient_id, sub=row.sub, name=row.name, rpps=row.rpps,
        organisation=row.organisation, reason=row.reason,
        started_at=row.started_at, expires_at=row.expires_at)


@router.post("", status_code=201, response_model=EmergencyGrantOut,
             summary="Break the glass: a time-limited grant on this patient for the caller "
             "(a professional), if the patient allows emergency access",
             responses={403: {"description": "refused; ``code`` is the decision's reason"}})
def start(ins: str, body: EmergencyIn, ctx: Ctx, caller: Caller, request: Request
          ) -> EmergencyGrantOut | JSONResponse:
    patient = ctx.patient_cx(ins)
    organisation_oid = ConsentUser.from_principal(caller).organisation_oid
    user = User(caller.subject, caller.rpps, caller.roles, organisation_oid)
    reason = body.reason.strip()
    now = ctx.clock()
    address = request.client.host if request.client else ""
    with ctx.db.session() as session:
        policy = crud.current(session, patient=patient)
        decision = decide(policy, ctx.rules, Asked(user, Target(), ETREAT, reason))
        if not decision.permit:
            return problem(403, decision.text, code=decision.code)
        row = emergency.start(
            session, patient=patient, reason=reason, now=now,
            duration_s=ctx.settings.emergency_duration_s,
            who=emergency.Professional(caller.subject, caller.name, caller.rpps,
                                       caller.organisation, user.organisation_oid))
        own.emergency_started(session, when=now, user=requestor(caller, address),
                              patient=patient, reason=reason)
        return grant_out(row)


@router.get("/active", response_model=EmergencyGrantOut,
            summary="The caller's own running grant on this patient (404: none)")
def active(ins: str, ctx: Ctx, caller: Caller) -> EmergencyGrantOut:
    patient = ctx.patient_cx(ins)
    if not caller.roles & CARE_ROLES:
        raise Problem(403, "emergency access is for professionals caring for the patient")
    with ctx.db.session() as session:
        row = emergency.active(session, patient=patient, sub=caller.subject, now=ctx.clock())
        if row is None:
            raise Problem(404, "no running emergency access to this patient")
        return grant_out(row)
