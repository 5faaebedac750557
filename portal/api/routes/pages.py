"""The radiologist's pages: search, the patient's timeline with ranked priors, the comparison
viewer. Every registry call carries the signed-in user's own token."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from portal import patients, studies
from partage.web.auth import SignedInUser, signed_in_user
from portal.api.deps import (
    Professional,
    ProfessionalPage,
    ProfessionalsOnly,
    Settings,
    is_professional,
)
from portal.core.config import PortalSettings
from portal.imaging.problems import ImagingProblem
from portal.patients import Patient
from portal.priors import PriorRanking, rank_priors
from portal.studies import StudyEntry
from portal.templating import render
from portal.timeline import build_axis, site_colours
from portal.viewerconfig import viewer_config, viewer_study

router = APIRouter(tags=["pages"], default_response_class=HTMLResponse)

DAY = r"^(\d{4}-\d{2}-\d{2})?$"
LAYOUTS = (1, 2, 4)


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


def _load(settings: PortalSettings, user: SignedInUser, patient: str
          ) -> tuple[Patient, list[StudyEntry]]:
    """The patient named in the URL and all their studies; 404 when unknown."""
    found = _patient(settings, user, patient)
    return found, studies.find_studies(settings, user.access_token, found.patient_id)


async def _one_of(request: Request, user: SignedInUser, found: Patient, study_id: str,
                  what: str) -> StudyEntry:
    """One study of the patient as the registry gives it to this user — through the image
    path's per-session memory, so the page and the prefetch it started ask ITI-18 once; 404
    when it is not theirs for this user."""
    try:
        entry = await request.app.state.imaging.entry(user.session_id, user.access_token,
                                                      study_id)
    except ImagingProblem as exc:
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
    request.app.state.imaging.warm(user.session_id, user.access_token, study_ids,
                                   root_path=request.scope.get("root_path", ""))


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
    found, all_studies = await run_in_threadpool(_load, settings, user, patient)
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
        "export_pacs": settings.export_pacs,
    })


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
        found, known = await run_in_threadpool(_load, settings, user, patient)
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
async def patient_studies(patient: str, user: Professional, settings: Settings
                          ) -> dict[str, list[dict[str, object]]]:
    """The comparison page's viewer fetches this after its first frames: its series picker
    offers every study of the patient, from every site (ITI-18 FindDocuments with the user's
    token, newest first)."""
    _, found = await run_in_threadpool(_load, settings, user, patient)
    return {"studies": [viewer_study(s) for s in found]}
