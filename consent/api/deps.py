"""What every consent route needs — settings, the database, the region's rules, the validator of
callers' bearer tokens — built once in ``consent.main`` and reached through ``Ctx``; and who may
act on which patient's policy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Header, Request

from partage.problems import Problem
from consent.core.config import ConsentSettings
from consent.decision import CARE_ROLES, RegionRules
from consent.policy import PatientIdError, RegionDefault, regional_cx
from partage.auth import Principal, Refusal, TokenValidator, authenticate
from partage.db import Database

PATIENT, REGION_ADMIN = "patient", "region-admin"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ConsentContext:
    settings: ConsentSettings
    db: Database
    #: the time of grants, their expiry and audits (tests move it)
    clock: Callable[[], datetime] = utc_now
    tokens: TokenValidator = field(init=False)
    rules: RegionRules = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.settings.token_validator()
        self.rules = RegionRules(RegionDefault(self.settings.region_default),
                                 self.settings.emergency_default)

    def patient_cx(self, text: str) -> str:
        """The strict regional CX of ``text`` (INS or CX); 400 when it is neither."""
        try:
            return regional_cx(text, self.settings.regional_authority)
        except PatientIdError as exc:
            raise Problem(400, str(exc)) from exc


def _context(request: Request) -> ConsentContext:
    ctx: ConsentContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ConsentContext, Depends(_context)]


def _caller(ctx: Ctx, authorization: Annotated[str | None, Header()] = None) -> Principal:
    """The request's bearer token holder, or 401 / 503 (sync: a JWKS fetch may block)."""
    try:
        return authenticate(ctx.tokens, authorization)
    except Refusal as exc:
        raise Problem(exc.status, exc.reason, headers=exc.headers) from exc


Caller = Annotated[Principal, Depends(_caller)]


def is_own_policy(ctx: ConsentContext, caller: Principal, patient: str) -> bool:
    """Whether ``caller`` is the patient ``patient`` (role patient, ``ins`` claim)."""
    ins = caller.claims.get("ins")
    if PATIENT not in caller.roles or not isinstance(ins, str):
        return False
    try:
        return regional_cx(ins, ctx.settings.regional_authority) == patient
    except PatientIdError:
        return False


def may_read(ctx: ConsentContext, caller: Principal, patient: str) -> None:
    """A patient reads their own policy, a region administrator anyone's; 403 otherwise."""
    if REGION_ADMIN not in caller.roles and not is_own_policy(ctx, caller, patient):
        raise Problem(403, "only the patient or a region administrator may read this policy")


def may_write(ctx: ConsentContext, caller: Principal, patient: str) -> None:
    """Only the patient changes their policy; 403 otherwise."""
    if not is_own_policy(ctx, caller, patient):
        raise Problem(403, "only the patient may change this policy")


def may_ask(ctx: ConsentContext, caller: Principal, user_sub: str) -> None:
    """Services ask the PDP on anyone's behalf; a professional only about themself."""
    if caller.roles & set(ctx.settings.decision_service_roles):
        return
    if caller.roles & CARE_ROLES and caller.subject == user_sub:
        return
    raise Problem(403, "decisions are for services, or for professionals about themselves")
