"""The privacy centre's pages, for a signed-in patient only: ``/`` (overview), ``/studies``
(their studies by site and date, each with a hide toggle), ``/policy`` (the sharing form),
``/history`` (every version and what it changed), ``/access-log`` (who read which study, with a
one-click block), ``/notifications`` (emergency accesses), ``/consent.json`` (the FHIR Consent).

Every change goes through ``consent.api.routes.policies.record`` as the API's ``PUT`` does (same
checks, same versioning, same audit), with the version the page showed as ``If-Match``."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from consent import crud, emergency, fhir
from consent.api.deps import PATIENT, ConsentContext, Ctx
from consent.api.routes import policies
from consent.api.routes.access_log import access_log
from consent.api.routes.notifications import notifications
from consent.centre.registry import REGISTRY_FAILURES, my_studies, site_names
from consent.centre.templating import render, render_error
from consent.policy import Base, PatientIdError, regional_cx
from consent.schemas import PolicyIn, PolicyOut
from partage.auth import Principal
from partage.problems import Problem
from partage.web import auth
from partage.web.auth import SignedInUser
from partage.web.csrf import CsrfChecked

router = APIRouter(include_in_schema=False)


class LoginRequired(Exception):
    """Not signed in: to the identity provider, then back to ``next``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PatientsOnly(Exception):
    """Signed in, but not as a patient with a regional INS."""


@dataclass(frozen=True)
class SignedInPatient:
    user: SignedInUser
    #: the regional patient ID (CX) of the token's ``ins`` claim
    patient: str

    @property
    def principal(self) -> Principal:
        return self.user.principal


async def _signed_in_patient(request: Request, ctx: Ctx) -> SignedInPatient:
    user = await auth.signed_in_user(request)
    if user is None:
        raise LoginRequired(auth.here(request))
    ins = user.principal.claims.get("ins")
    if PATIENT not in user.principal.roles or not isinstance(ins, str):
        raise PatientsOnly()
    try:
        patient = regional_cx(ins, ctx.settings.regional_authority)
    except PatientIdError as exc:
        raise PatientsOnly() from exc
    with ctx.db.session() as session:
        request.state.unread = emergency.unread(session, patient=patient)
    return SignedInPatient(user, patient)


Me = Annotated[SignedInPatient, Depends(_signed_in_patient)]


def login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(f"/auth/login?next={quote(exc.next_path, safe='')}", 303)


def patients_only(request: Request, exc: Exception) -> Response:
    return render_error(request, 403, "Espace réservé aux patients",
                        "Ce centre de confidentialité est celui des patients : connectez-vous "
                        "avec votre compte patient. Les professionnels utilisent le portail.")


#: the handlers ``consent.main`` installs for this module's exceptions
HANDLERS = {LoginRequired: login_required, PatientsOnly: patients_only}


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


def _save(ctx: ConsentContext, me: SignedInPatient, request: Request, version: int,
          then: str, **change: Any) -> Response:
    """Record the current policy with ``change`` applied, as the version the page showed."""
    body = policies.current(ctx, me.patient).model_dump(include=set(PolicyIn.model_fields))
    body.update(change)
    try:
        wanted = PolicyIn.model_validate(body)
        policies.record(ctx, me.principal, me.patient, wanted, f'"{version}"', _address(request))
    except ValidationError as exc:
        return render_error(request, 400, "Choix non enregistré",
                            "Un des numéros saisis n'est pas valide (RPPS : 11 chiffres).",
                            "; ".join(e["msg"] for e in exc.errors()), retry=then)
    except Problem as exc:
        title = ("Votre politique a changé entre-temps" if exc.status_code in (409, 412)
                 else "Choix non enregistré")
        return render_error(request, exc.status_code, title,
                            "Rien n'a été modifié. Rechargez la page et recommencez.",
                            str(exc.detail), retry=then)
    return RedirectResponse(f"{then}?saved=1", 303)


def _policy(ctx: ConsentContext, me: SignedInPatient) -> PolicyOut:
    return policies.current(ctx, me.patient)


# -- pages ---------------------------------------------------------------------------------------
@router.get("/")
def overview(request: Request, ctx: Ctx, me: Me) -> Response:
    policy = _policy(ctx, me)
    return render(request, "overview.html", {"policy": policy,
                                             "accesses": access_log(ctx, me.patient).accesses[:5]})


@router.get("/studies")
def studies(request: Request, ctx: Ctx, me: Me) -> Response:
    policy = _policy(ctx, me)
    names = site_names(ctx.settings, me.user.access_token)
    failure = ""
    try:
        found = my_studies(ctx.settings, me.user.access_token, me.patient)
    except REGISTRY_FAILURES as exc:
        found, failure = [], str(exc)
    by_site: dict[str, list[Any]] = defaultdict(list)
    for study in found:
        by_site[names.get(study.site_oid) or study.site or study.site_oid].append(study)
    listed = {s.study_instance_uid for s in found}
    return render(request, "studies.html", {
        "policy": policy, "by_site": sorted(by_site.items()), "failure": failure,
        "hidden": set(policy.hidden_studies),
        "unlisted_hidden": sorted(set(policy.hidden_studies) - listed)})


@router.post("/studies/visibility")
def set_visibility(request: Request, ctx: Ctx, me: Me, _: CsrfChecked,
                   study_instance_uid: Annotated[str, Form(max_length=64)],
                   hide: Annotated[bool, Form()], version: Annotated[int, Form()]) -> Response:
    hidden = set(_policy(ctx, me).hidden_studies)
    hidden = hidden | {study_instance_uid} if hide else hidden - {study_instance_uid}
    return _save(ctx, me, request, version, "/studies", hidden_studies=sorted(hidden))


@router.get("/policy")
def policy_form(request: Request, ctx: Ctx, me: Me, saved: bool = False) -> Response:
    policy = _policy(ctx, me)
    names = site_names(ctx.settings, me.user.access_token)
    sites = {**{oid: oid for oid in policy.blocked_sites}, **names}
    return render(request, "policy.html", {"policy": policy, "saved": saved,
                                           "sites": sorted(sites.items(), key=lambda s: s[1])})


def _rpps_list(text: str) -> list[str]:
    return sorted({word for word in text.replace(",", " ").split() if word})


@router.post("/policy")
def save_policy(request: Request, ctx: Ctx, me: Me, _: CsrfChecked,
                base: Annotated[Base, Form()], emergency_access: Annotated[str, Form()],
                version: Annotated[int, Form()],
                blocked_sites: Annotated[list[str], Form()] = [],  # noqa: B006
                blocked_professionals: Annotated[str, Form(max_length=20000)] = "",
                allowed_professionals: Annotated[str, Form(max_length=20000)] = "") -> Response:
    choice = {"default": None, "allow": True, "forbid": False}
    if emergency_access not in choice:
        return render_error(request, 400, "Choix non enregistré",
                            "Choisissez si l'accès d'urgence est permis.", retry="/policy")
    return _save(ctx, me, request, version, "/policy", base=base,
                 emergency_access=choice[emergency_access], blocked_sites=sorted(blocked_sites),
                 blocked_professionals=_rpps_list(blocked_professionals),
                 allowed_professionals=_rpps_list(allowed_professionals))


@router.post("/policy/block-professional")
def block_professional(request: Request, ctx: Ctx, me: Me, _: CsrfChecked,
                       rpps: Annotated[str, Form(max_length=64)],
                       version: Annotated[int, Form()]) -> Response:
    policy = _policy(ctx, me)
    return _save(ctx, me, request, version, "/access-log",
                 blocked_professionals=sorted({*policy.blocked_professionals, rpps}),
                 allowed_professionals=sorted(set(policy.allowed_professionals) - {rpps}))


@router.get("/history")
def history(request: Request, ctx: Ctx, me: Me) -> Response:
    versions = policies.history_of(ctx, me.patient).versions
    return render(request, "history.html", {"versions": list(reversed(versions)),
                                            "me": me.principal.subject})


def _study_labels(ctx: ConsentContext, me: SignedInPatient) -> dict[str, str]:
    """Study Instance UID → "description, date" of the patient's studies (empty when the
    registry does not answer: the log then shows UIDs)."""
    try:
        found = my_studies(ctx.settings, me.user.access_token, me.patient)
    except REGISTRY_FAILURES:
        return {}
    return {s.study_instance_uid: ", ".join(filter(None, (s.description, s.date)))
            for s in found}


@router.get("/access-log")
def accesses(request: Request, ctx: Ctx, me: Me, saved: bool = False) -> Response:
    policy = _policy(ctx, me)
    return render(request, "access_log.html", {
        "accesses": access_log(ctx, me.patient).accesses, "policy": policy, "saved": saved,
        "sites": site_names(ctx.settings, me.user.access_token),
        "studies": _study_labels(ctx, me), "blocked": set(policy.blocked_professionals)})


@router.get("/notifications")
def notices(request: Request, ctx: Ctx, me: Me) -> Response:
    return render(request, "notifications.html", {"notes": notifications(ctx, me.patient)})


@router.post("/notifications/read")
def mark_read(request: Request, ctx: Ctx, me: Me, _: CsrfChecked) -> Response:
    with ctx.db.session() as session:
        emergency.mark_read(session, patient=me.patient, now=ctx.clock())
    return RedirectResponse("/notifications", 303)


@router.get("/consent.json")
def consent_download(request: Request, ctx: Ctx, me: Me) -> Response:
    with ctx.db.session() as session:
        policy = crud.current(session, patient=me.patient)
    if policy.version == 0:
        return render_error(request, 404, "Aucun consentement enregistré",
                            "Vous n'avez encore fait aucun choix : la règle de la région "
                            "s'applique.", retry="/policy")
    resource = fhir.consent(policy, ctx.rules, ctx.settings.regional_authority)
    return Response(resource.model_dump_json(exclude_none=True, indent=2),
                    media_type="application/fhir+json", headers={
                        "Content-Disposition": 'attachment; filename="consentement.json"'})
