"""A patient's sharing policy: the current version, a new version, the history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from sqlalchemy.exc import IntegrityError

from consent import crud
from consent.api.deps import Caller, ConsentContext, Ctx, may_read, may_write
from partage.problems import Problem
from consent.decision import effective_emergency, effective_sharing
from consent.audit import own
from consent.policy import Policy, changes
from partage.audit import requestor
from partage.auth import Principal
from consent.schemas import Effective, PolicyHistory, PolicyIn, PolicyOut

router = APIRouter(prefix="/patients/{ins}/policy", tags=["policy"])


def etag(policy: Policy) -> str:
    return f'"{policy.version}"'


def policy_out(ctx: ConsentContext, policy: Policy, before: Policy | None = None
               ) -> PolicyOut:
    effective = Effective(region_default=ctx.rules.default.value,
                          sharing=effective_sharing(policy, ctx.rules),
                          emergency_access=effective_emergency(policy, ctx.rules))
    return PolicyOut.of(policy, effective, changes(before, policy) if before else None)


def current(ctx: ConsentContext, patient: str) -> PolicyOut:
    with ctx.db.session() as session:
        return policy_out(ctx, crud.current(session, patient=patient))


def record(ctx: ConsentContext, caller: Principal, patient: str, body: PolicyIn,
           if_match: str | None = None, address: str = "") -> PolicyOut:
    """Store ``body`` as the patient's next version with its consent-change audit, in one
    transaction (the API's PUT and the privacy centre's forms). 400 for contradictions, 412 when
    ``if_match`` is stale, 409 when another change won the race."""
    may_write(ctx, caller, patient)
    try:
        wanted = Policy(patient=patient, base=body.base, emergency_access=body.emergency_access,
                        hidden_studies=frozenset(body.hidden_studies),
                        hidden_documents=frozenset(body.hidden_documents),
                        blocked_sites=frozenset(body.blocked_sites),
                        blocked_professionals=frozenset(body.blocked_professionals),
                        allowed_professionals=frozenset(body.allowed_professionals))
    except ValueError as exc:
        raise Problem(400, str(exc)) from exc
    try:
        with ctx.db.session() as session:
            before = crud.current(session, patient=patient)
            if if_match is not None and if_match != etag(before):
                raise Problem(412, "the policy changed since it was read: read it again")
            now = ctx.clock()
            policy = crud.append(session, policy=wanted, author=caller.subject,
                                 author_role="patient", now=now)
            own.consent_changed(session, when=now, patient=patient, version=policy.version,
                                user=requestor(caller, address), change=changes(before, policy))
    except IntegrityError as exc:
        raise Problem(409, "another change of this policy was recorded at the same time: "
                      "read it again") from exc
    return policy_out(ctx, policy)


def history_of(ctx: ConsentContext, patient: str) -> PolicyHistory:
    with ctx.db.session() as session:
        versions = crud.history(session, patient=patient)
    previous = [Policy(patient=patient), *versions]
    return PolicyHistory(patient=patient, versions=[policy_out(ctx, p, before) for p, before
                                                    in zip(versions, previous, strict=False)])


@router.get("", response_model=PolicyOut, summary="The patient's current policy (version 0: "
            "never chosen, region defaults); ETag is its version")
def read(ins: str, ctx: Ctx, caller: Caller, response: Response) -> PolicyOut:
    patient = ctx.patient_cx(ins)
    may_read(ctx, caller, patient)
    answer = current(ctx, patient)
    response.headers["ETag"] = f'"{answer.version}"'
    return answer


@router.put("", response_model=PolicyOut, summary="Record a new version of the patient's "
            "policy (by the patient only); If-Match: the version it replaces")
def write(ins: str, body: PolicyIn, ctx: Ctx, caller: Caller, response: Response,
          request: Request, if_match: Annotated[str | None, Header()] = None) -> PolicyOut:
    answer = record(ctx, caller, ctx.patient_cx(ins), body, if_match,
                    request.client.host if request.client else "")
    response.headers["ETag"] = f'"{answer.version}"'
    return answer


@router.get("/history", response_model=PolicyHistory, summary="Every version of the "
            "patient's policy, oldest first, with who made it and when")
def history(ins: str, ctx: Ctx, caller: Caller) -> PolicyHistory:
    patient = ctx.patient_cx(ins)
    may_read(ctx, caller, patient)
    return history_of(ctx, patient)
