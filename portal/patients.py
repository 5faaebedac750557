"""Finding the patient: the registry's identity API (``GET {identity_url}/patients``) read with
the user's token. A search is either a regional ID (the INS, bare or in CX form) or
demographics (family name, given name, birth date).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote

import httpx

from portal.core.config import PortalSettings
from partage.regional_studies import RegistryRefused, RegistryUnavailable, TokenRefused

#: a regional ID in CX form (ITI TF-3 §4.2.3.2.16)
_CX = re.compile(r"^[^\^&|~\\\s]+\^\^\^&[0-2](\.(0|[1-9][0-9]*))+&ISO$")
#: an INS (NIR: 13 characters, 2A/2B for Corsica, optionally its 2-digit key)
_INS = re.compile(r"^[1-8][0-9]{2}[0-9]{2}([0-9]{2}|2A|2B)[0-9]{6}([0-9]{2})?$",
                  re.IGNORECASE)
_DATE_FR = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")
_DATE_ISO = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


@dataclass(frozen=True)
class Patient:
    """A regional patient as the identity API describes them."""

    patient_id: str
    family_name: str
    given_name: str
    #: YYYY-MM-DD (or shorter when only partly known), or empty
    birth_date: str
    sex: str

    @property
    def ins(self) -> str:
        return self.patient_id.split("^")[0]

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.family_name.upper(), self.given_name) if p) or self.ins

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Patient:
        return cls(
            patient_id=str(data["patient_id"]),
            family_name=str(data.get("family_name") or ""),
            given_name=str(data.get("given_name") or ""),
            birth_date=str(data.get("birth_date") or ""),
            sex=str(data.get("sex") or ""),
        )


@dataclass(frozen=True)
class Criteria:
    """What the user asked for: a regional ID, or demographics."""

    patient_id: str = ""
    family: str = ""
    given: str = ""
    birth_date: str = ""

    @property
    def empty(self) -> bool:
        return not (self.patient_id or self.family or self.given or self.birth_date)


def regional_id(text: str, authority: str) -> str | None:
    """The CX regional ID ``text`` names: a CX as it is, a bare INS qualified with the
    region's authority; ``None`` when ``text`` is not an identifier."""
    text = text.strip()
    if _CX.match(text):
        return text
    if _INS.match(text.replace(" ", "")):
        return f"{text.replace(' ', '').upper()}^^^&{authority}&ISO"
    return None


def _birth_date(text: str) -> str | None:
    """A birth date typed as YYYY[-MM[-DD]] or DD/MM/YYYY, as the API's YYYY-MM-DD."""
    if _DATE_ISO.match(text):
        return text
    match = _DATE_FR.match(text)
    if match:
        day, month, year = match.groups()
        try:
            return date(int(year), int(month), int(day)).isoformat()
        except ValueError:
            return None
    return None


def parse_query(q: str, authority: str, *, family: str = "", given: str = "",
                birth_date: str = "") -> Criteria:
    """Criteria from the search box (``q``: an ID, or "FAMILY [Given] [birth date]") and the
    optional explicit fields, which win over what ``q`` implies."""
    q = q.strip()
    found = regional_id(q, authority) if q else None
    if found:
        return Criteria(patient_id=found)
    words, born = [], ""
    for word in q.split():
        as_date = _birth_date(word)
        if as_date and not born:
            born = as_date
        else:
            words.append(word)
    return Criteria(
        family=family.strip() or (words[0] if words else ""),
        given=given.strip() or " ".join(words[1:]),
        birth_date=(_birth_date(birth_date.strip()) or "") if birth_date.strip() else born,
    )


def _get(settings: PortalSettings, token: str, path: str,
         params: dict[str, str] | None = None) -> httpx.Response:
    try:
        answer = httpx.get(f"{settings.identity_url.rstrip('/')}{path}", params=params,
                           headers={"Authorization": f"Bearer {token}",
                                    "Accept": "application/json"},
                           timeout=settings.upstream_timeout_s)
    except httpx.HTTPError as exc:
        raise RegistryUnavailable(f"identity API: {exc}") from None
    if answer.status_code == 401:
        raise TokenRefused("Unauthorized", _detail(answer))
    if answer.status_code >= 500:
        raise RegistryUnavailable(f"identity API answered {answer.status_code}: "
                                  f"{_detail(answer)}")
    return answer


def _detail(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("detail") or answer.reason_phrase)
    except ValueError:
        return answer.reason_phrase


def get_patient(settings: PortalSettings, token: str, patient_id: str) -> Patient | None:
    """The patient with this CX regional ID, following a merge to the surviving patient;
    ``None`` when unknown."""
    answer = _get(settings, token, f"/patients/{quote(patient_id, safe='')}")
    if answer.status_code in (404, 422):
        return None
    if answer.status_code != 200:
        raise RegistryRefused(str(answer.status_code), _detail(answer))
    data = answer.json()
    if data.get("merged_into"):
        return get_patient(settings, token, str(data["merged_into"]))
    return Patient.from_json(data)


def search(settings: PortalSettings, token: str, criteria: Criteria,
           limit: int = 50) -> list[Patient]:
    """Patients matching the criteria (an ID: that patient alone), at most ``limit``."""
    if criteria.patient_id:
        found = get_patient(settings, token, criteria.patient_id)
        return [found] if found else []
    params = {"limit": str(limit)}
    for key, value in (("family", criteria.family), ("given", criteria.given),
                       ("birth_date", criteria.birth_date)):
        if value:
            params[key] = value
    answer = _get(settings, token, "/patients", params)
    if answer.status_code == 422:
        raise RegistryRefused("422", _detail(answer))
    if answer.status_code != 200:
        raise RegistryRefused(str(answer.status_code), _detail(answer))
    return [Patient.from_json(p) for p in answer.json()]
