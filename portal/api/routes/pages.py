"""The radiologist's pages: search, the patient's timeline with ranked priors, the comparison
viewer, and breaking the glass. Every registry call carries the signed-in user's own token; every
study shown was first permitted by the consent service (``portal.consent``), and what was kept
back is counted by reason on the page, never named."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from partage.web.auth import SignedInUser, signed_in_user
from partage.web.csrf import CsrfChecked
from partage.web.sessions import server_session
from partage import regional_studies
from portal import patients
from portal.api.deps import (
    Professional,
    ProfessionalPage,
    ProfessionalsOnly,
    Settings,
    is_professional,
)
from portal.consent import (
    EMERGENCY_ACCESS,
    ConsentPoint,
    EmergencyGrant,
    EmergencyRefused,
    HiddenNotice,
    notices,
)
from portal.core.config import PortalSettings
from portal.imaging.problems import ImagingProblem
from portal.patients import Patient
from portal.priors import PriorRanking, rank_priors
from partage.regional_studies import StudyEntry
from portal.templating import render
from portal.timeline import build_axis, site_colours
from portal.viewerconfig import viewer_config, viewer_study

router = APIRouter(tags=["pages"], default_response_class=HTMLResponse)

DAY = r"^(\d{4}-\d{2}-\d{2})?$"
LAYOUTS = (1, 2, 4)
#: session key of an emergency refusal to show once on the patient's page
EMERGENCY_REFUSAL = "emergency_refusal"


@dataclass(frozen=True)
class Filters:
    """The timeline's filters, kept in every link of the page."""

    modality: str = ""
    region: str = ""
    site: str = ""
    since: str = ""
    until: str = ""

    def keep(self, study: StudyEntry) -> bool:
        return ((not self.modality or self.modality in study.modalities)
                and (not self.region or self.region in study.regions)
                and (not self.site or self.site == study.site)
                and (not self.since or (bool(study.date) and study.date >= self.since))
                and (not self.until or (bool(study.date) and study.date <= self.until)))

    def params(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v}

    @property
    def active(self) -> bool:
        return bool(self.params())


@router.get("/", summary="Home: patient search once signed in")
async def home(request: Request) -> Response:
    user = await signed_in_user(request)
    if user is None:
        return render(request, "welcome.html")
    if not is_professional(user):
        raise ProfessionalsOnly(user)
    return render(request, "search.html", {"q": "", "criteria": None, "results": None})


@router.get("/patients", summary="Search patients by regional ID or demographics")
async def search_page(
    request: Request, user: ProfessionalPage, settings: Settings,
    q: Annotated[str, Query(max_length=200)] = "",
    family: Annotated[str, Query(max_length=128)] = "",
    given: Annotated[str, Query(max_length=128)] = "",
    birth_date: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    criteria = patients.parse_query(q, settings.regional_id_authority, family=family,
                                    given=given, birth_date=birth_date)
    results = None
    if not criteria.empty:
        results = await run_in_threadpool(patients.search, settings, user.access_token,
                                          criteria)
    return render(request, "search.html", {
        "q": q, "family": family, "given": given, "birth_date": birth_date,
        "criteria": criteria, "results": results,
    })


def _patient(settings: PortalSettings, user: SignedInUser, patient: str) -> Patient:
    """The patient named in the URL (INS or CX); 404 when unknown."""
    patient_id = patients.regional_id(patient, settings.regional_id_authority)
    found = patients.get_patient(settings, user.access_token, patient_id) if patient_id else None
    if found is None:
        raise HTTPException(404, f"Aucun patient {patient} n'est connu de la région.")
    return found


@dataclass(frozen=True)
class Visible:
    """A patient's studies this user may see, and how many were kept back, by reason."""

    patient: Patient
    studies: list[StudyEntry]
    hidden: list[HiddenNotice]


def consent_point(request: Request) -> ConsentPoint:
    point: ConsentPoint = request.app.state.consent
    return point


async def _load(request: Request, settings: PortalSettings, user: SignedInUser,
                patient: str) -> Visible:
    """The patient named in the URL and every study of theirs this user may see: what the
    registry gives (its withheld entries counted) less what the consent service refuses; 404
    when the patient is unknown."""

    def query() -> tuple[Patient, regional_studies.Found]:
        found = _patient(settings, user, patient)
        return found, regional_studies.find_studies(settings, user.access_token, found.patient_id)

    found, answer = await run_in_threadpool(query)
    shown, refused = await consent_point(request).filter(user.principal, answer.studies)
    return Visible(found, shown, notices([*answer.withheld, *refused]))


async def _one_of(request: Request, user: SignedInUser, found: Patient, study_id: str,
                  what: str) -> StudyEntry:
    """One study of the patient as the registry gives it to this user — through the image
    path's per-session memory, so the page and the prefetch it started ask ITI-18 once; 404
    when it is not theirs for this user."""
    try:
        entry = await request.app.state.imaging.entry(user, study_id)
    except ImagingProblem as exc:
        if exc.status == 403:  # the patient's policy: say why, not what
            raise HTTPException(403, exc.detail) from None
        if exc.status != 404:
            raise
        entry = None
    if entry is None or entry.patient_id != found.patient_id:
        raise HTTPException(404, f"L'examen {what} {study_id} n'est pas un examen de ce patient "
                                 "visible pour vous.")
    return entry


def _warm(request: Request, user: SignedInUser, study_ids: list[str]) -> None:
    """Prefetch, as the course's PACS prefetch does for priors: start in the background what
    the viewer will ask for these studies (registry decision for this user, manifest, series
    list, the first series' metadata — the gateways read it from their PACS meanwhile)."""
    request.app.state.imaging.warm(user, study_ids, root_path=request.scope.get("root_path", ""))


def _study(all_studies: list[StudyEntry], study_id: str | None, what: str
           ) -> StudyEntry | None:
    if not study_id:
        return None
    match = next((s for s in all_studies if s.id == study_id), None)
    if match is None:
        raise HTTPException(404, f"L'examen {what} {study_id} n'est pas un examen de ce patient "
                                 "visible pour vous.")
    return match


@router.get("/patients/{patient}", summary="A patient's timeline of every study of the region")
async def patient_page(
    request: Request, patient: str, user: ProfessionalPage, settings: Settings,
    current: Annotated[str | None, Query(max_length=64)] = None,
    modality: Annotated[str, Query(max_length=16)] = "",
    region: Annotated[str, Query(max_length=128)] = "",
    site: Annotated[str, Query(max_length=256)] = "",
    since: Annotated[str, Query(pattern=DAY)] = "",
    until: Annotated[str, Query(pattern=DAY)] = "",
) -> Response:
    visible = await _load(request, settings, user, patient)
    found, all_studies = visible.patient, visible.studies
    emergency = await _emergency_state(request, user, found)
    filters = Filters(modality, region, site, since, until)
    chosen = _study(all_studies, current, "courant")
    ranking: PriorRanking | None = rank_priors(chosen, all_studies) if chosen else None
    best = ranking.best if ranking else None
    if chosen is not None:  # prefetch: the gateways read the current study and its best prior
        _warm(request, user, [chosen.id, *([best.id] if best else [])])
    shown = [s for s in all_studies if filters.keep(s)]
    base = f"/patients/{quote(found.patient_id, safe='')}"

    def link(**changes: str | None) -> str:
        params = {**filters.params(), **({"current": chosen.id} if chosen else {})}
        for key, value in changes.items():
            if value:
                params[key] = value
            else:
                params.pop(key, None)
        return f"{base}?{urlencode(params)}" if params else base

    def compare_link(prior: StudyEntry | None, layout: int = 2) -> str:
        assert chosen is not None
        params = {"current": chosen.id, "layout": str(layout)}
        if prior is not None:
            params["prior"] = prior.id
        return f"{base}/compare?{urlencode(params)}"

    return render(request, "patient.html", {
        "patient": found, "studies": shown, "total": len(all_studies), "filters": filters,
        "current": chosen, "ranking": ranking, "best": best,
        "axis": build_axis(shown, current_id=chosen.id if chosen else None,
                           prior_id=best.id if best else None),
        "colours": site_colours(all_studies),
        "options": {
            "modality": sorted({m for s in all_studies for m in s.modalities}),
            "region": sorted({r for s in all_studies for r in s.regions}),
            "site": sorted({s.site for s in all_studies if s.site}),
        },
        "link": link, "compare_link": compare_link, "base": base,
        "export_pacs": settings.export_pacs, "hidden": visible.hidden,
        "hidden_total": sum(n.count for n in visible.hidden), **emergency,
    })


async def _emergency_state(request: Request, user: SignedInUser, found: Patient
                           ) -> dict[str, object]:
    """What the page says about emergency access: the user's active grant (``grant``), or
    whether to offer one (``emergency_offer``: the patient-level decision is a denial a grant
    would lift), and a refusal just met (``emergency_refusal``, shown once)."""
    point = consent_point(request)
    refusal = server_session(request).data.pop(EMERGENCY_REFUSAL, None)
    decision = await point.patient(user.principal, found.patient_id)
    grant: EmergencyGrant | None = None
    if decision is not None and decision.permit and decision.reason_code == EMERGENCY_ACCESS:
        grant = await point.active_grant(user.access_token, found.ins)
    offer = decision is not None and not decision.permit and decision.emergency_possible
    return {"grant": grant, "emergency_offer": offer or bool(refusal),
            "emergency_refusal": refusal, "patient_decision": decision}


@router.post("/patients/{patient}/emergency-access",
             summary="Break the glass: ask for a time-limited emergency access, with a reason")
async def emergency_access(request: Request, patient: str, user: ProfessionalPage,
                           settings: Settings, _: CsrfChecked,
                           reason: Annotated[str, Form(max_length=2000)] = "") -> Response:
    """The consent service decides (with the user's own token) and records the grant; the
    patient's page then shows the studies and the grant's end, or the refusal's reason."""
    found = await run_in_threadpool(_patient, settings, user, patient)
    page = f"/patients/{quote(found.patient_id, safe='')}"
    if not reason.strip():
        server_session(request).data[EMERGENCY_REFUSAL] = (
            "Un motif écrit est obligatoire pour un accès en urgence.")
        return RedirectResponse(page, status_code=303)
    try:
        await consent_point(request).request_grant(user.access_token, found.ins, reason.strip())
    except EmergencyRefused as exc:
        server_session(request).data[EMERGENCY_REFUSAL] = str(exc)
    return RedirectResponse(page, status_code=303)


@router.get("/patients/{patient}/compare", summary="The comparison viewer")
async def compare_page(
    request: Request, patient: str, user: ProfessionalPage, settings: Settings,
    current: Annotated[str, Query(max_length=64)],
    prior: Annotated[str | None, Query(max_length=64)] = None,
    layout: Annotated[int, Query()] = 2,
) -> Response:
    if layout not in LAYOUTS:
        raise HTTPException(400, f"Disposition {layout} inconnue : 1, 2 ou 4 vues.")
    _warm(request, user, [current, *([prior] if prior else [])])  # while the page is built
    if prior:  # the two studies on screen now; the viewer lists the others at studiesUrl
        found = await run_in_threadpool(_patient, settings, user, patient)
        chosen, previous = await asyncio.gather(
            _one_of(request, user, found, current, "courant"),
            _one_of(request, user, found, prior, "antérieur"))
        known = [chosen] if previous.id == chosen.id else [chosen, previous]
    else:  # the best prior is ranked among every study of the patient
        visible = await _load(request, settings, user, patient)
        found, known = visible.patient, visible.studies
        chosen = _study(known, current, "courant")
        assert chosen is not None
        previous = rank_priors(chosen, known).best
    config = viewer_config(found.patient_id, known, chosen, previous, layout)
    return render(request, "compare.html", {
        "patient": found, "current": chosen, "prior": previous,
        "config": json.dumps(config, ensure_ascii=False, separators=(",", ":")),
        "back": f"/patients/{quote(found.patient_id, safe='')}?current={chosen.id}",
    })


@router.get("/api/patients/{patient}/studies", response_class=JSONResponse,
            summary="Every study of the patient the user may see, as the viewer lists them")
async def patient_studies(request: Request, patient: str, user: Professional,
                          settings: Settings) -> dict[str, list[dict[str, object]]]:
    """The comparison page's viewer fetches this after its first frames: its series picker
    offers every study of the patient the user may see, from every site (ITI-18 FindDocuments
    with the user's token, newest first, less what the consent service refuses)."""
    visible = await _load(request, settings, user, patient)
    return {"studies": [viewer_study(s) for s in visible.studies]}
