"""The policy decision point: may this user see this study (or these studies) of this patient,
and why. Each call reads the patient's current policy and the user's active emergency grant,
so a change applies at once here; the callers' cache (``partage.consent``) bounds how long they
act on an older answer (each answer's ``max_age_s``)."""

from __future__ import annotations

from fastapi import APIRouter

from consent import crud, emergency
from consent.api.deps import Caller, ConsentContext, Ctx, may_ask
from consent.decision import Decision, Grant, Request, Target, User, decide, decide_many
from consent.policy import Policy
from consent.schemas import (
    BatchOut,
    BatchRequest,
    DecisionOut,
    DecisionRequest,
    Reason,
    TargetDecision,
    TargetIn,
    UserIn,
)

router = APIRouter(prefix="/decisions", tags=["decisions"])


def _user(body: UserIn) -> User:
    return User(sub=body.sub, rpps=body.rpps, roles=frozenset(body.roles),
                organisation_oid=body.organisation_oid)


def _target(body: TargetIn) -> Target:
    return Target(body.study_instance_uid, body.document_unique_id, body.site_oid)


def _out(decision: Decision) -> DecisionOut:
    return DecisionOut(permit=decision.permit,
                       reason=Reason(code=decision.code, text=decision.text),
                       policy_version=decision.policy_version, max_age_s=decision.max_age_s,
                       emergency_possible=decision.emergency_possible,
                       emergency_reason=decision.emergency_reason)


def _policy(ctx: ConsentContext, patient: str, sub: str) -> tuple[Policy, Grant | None]:
    """The patient's current policy and the user's active emergency grant for them."""
    patient = ctx.patient_cx(patient)
    now = ctx.clock()
    with ctx.db.session() as session:
        return (crud.current(session, patient=patient),
                emergency.grant_of(emergency.active(session, patient=patient, sub=sub, now=now),
                                   now))


@router.post("", response_model=DecisionOut, summary="Permit or deny one access, with the "
             "reason and the policy version it was decided on")
def one(body: DecisionRequest, ctx: Ctx, caller: Caller) -> DecisionOut:
    may_ask(ctx, caller, body.user.sub)
    policy, grant = _policy(ctx, body.patient, body.user.sub)
    request = Request(_user(body.user), _target(body), body.purpose_of_use,
                      body.emergency_reason, grant)
    return _out(decide(policy, ctx.rules, request))


@router.post("/batch", response_model=BatchOut, summary="One decision per study or document "
             "of one patient for one user, in order (a query answer's filter)")
def batch(body: BatchRequest, ctx: Ctx, caller: Caller) -> BatchOut:
    may_ask(ctx, caller, body.user.sub)
    policy, grant = _policy(ctx, body.patient, body.user.sub)
    decisions = decide_many(policy, ctx.rules, _user(body.user),
                            [_target(t) for t in body.targets], body.purpose_of_use,
                            body.emergency_reason, grant)
    return BatchOut(
        patient=policy.patient, policy_version=policy.version,
        decisions=[TargetDecision(**_out(d).model_dump(), target=t)
                   for d, t in zip(decisions, body.targets, strict=True)],
    )
