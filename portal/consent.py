"""The portal as the third enforcement point of the patients' policies (DESIGN.md "Security
model"): every study it shows or serves is first put to the consent service's decision point;
a refused study is not shown, and the page says why without naming it. When the decision point
cannot answer, nothing is shown (pages: an error, APIs: 503).

The portal asks as a ``service`` caller, with its own client-credentials token, about the
signed-in user as their validated access token describes them (``ConsentUser.from_principal``):
one ``ConsentClient`` and one decision cache (≤ 5 s) for the process, as the registry and the
gateways ask. Emergency grants are asked for with the user's own token: the consent service
records the professional who broke the glass, not the portal.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from starlette.concurrency import run_in_threadpool

from partage.auth import Principal
from partage.consent import (
    ConsentClient,
    ConsentDecision,
    ConsentTarget,
    ConsentUnavailable,
    ConsentUser,
)
from partage.regional_studies import StudyEntry, Withheld
from partage.tokens import ClientCredentials
from portal.core.config import PortalSettings

#: the decision's code while an emergency grant lets the user see what the patient's base
#: choice would refuse
EMERGENCY_ACCESS = "emergency-access"


class ConsentRefused(Exception):
    """The patient's policy refuses this study to this user (``text`` names no content)."""

    def __init__(self, decision: ConsentDecision) -> None:
        super().__init__(decision.reason_text)
        self.decision = decision


class EmergencyRefused(Exception):
    """The consent service refused an emergency grant: ``str(exc)`` is its reason text."""


@dataclass(frozen=True)
class HiddenNotice:
    """How many studies are not shown for one reason."""

    text: str
    count: int


@dataclass(frozen=True)
class EmergencyGrant:
    """A time-limited emergency access of one professional to one patient."""

    id: str
    reason: str
    started_at: datetime
    expires_at: datetime

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EmergencyGrant:
        return cls(str(data["id"]), str(data.get("reason", "")),
                   datetime.fromisoformat(str(data["started_at"])),
                   datetime.fromisoformat(str(data["expires_at"])))


def notices(withheld: Iterable[Withheld]) -> list[HiddenNotice]:
    """The withheld studies counted by reason text, most frequent first."""
    counts: dict[str, int] = {}
    for item in withheld:
        counts[item.text] = counts.get(item.text, 0) + 1
    return [HiddenNotice(text, n) for text, n in sorted(counts.items(), key=lambda i: -i[1])]


def _target(entry: StudyEntry) -> ConsentTarget:
    return ConsentTarget(entry.study_instance_uid, entry.unique_id, entry.site_oid)


class ConsentPoint:
    """The portal's questions to the consent service; with no ``consent_url`` (``client`` is
    ``None``) every study the registry gives is shown."""

    def __init__(self, settings: PortalSettings, http: httpx.AsyncClient,
                 tokens: ClientCredentials | None) -> None:
        self.url = settings.consent_url.rstrip("/")
        self.http = http
        self.client = settings.consent_client(tokens)

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: PortalSettings, tokens: ClientCredentials | None
                   ) -> AsyncIterator[ConsentPoint]:
        """``tokens``: the portal's service client (``PortalSettings.token_source()``)."""
        async with httpx.AsyncClient(timeout=settings.upstream_timeout_s) as http:
            point = cls(settings, http, tokens)
            try:
                yield point
            finally:
                if point.client is not None:
                    point.client.close()

    async def _decide(self, client: ConsentClient, principal: Principal, patient_id: str,
                      targets: list[ConsentTarget]) -> list[ConsentDecision]:
        """One decision per target for this user (one call, or none for cached ones)."""
        return await run_in_threadpool(
            client.decide_many, patient_id, ConsentUser.from_principal(principal), targets,
            purpose_of_use=principal.purpose)

    async def filter(self, principal: Principal, entries: list[StudyEntry]
                     ) -> tuple[list[StudyEntry], list[Withheld]]:
        """The entries this user may see, and one ``Withheld`` per refused one."""
        if self.client is None or not entries:
            return entries, []
        by_patient: dict[str, list[StudyEntry]] = {}
        for entry in entries:
            by_patient.setdefault(entry.patient_id, []).append(entry)
        verdicts: dict[str, ConsentDecision] = {}
        for patient, group in by_patient.items():
            decisions = await self._decide(self.client, principal, patient,
                                           [_target(e) for e in group])
            verdicts.update((e.id, d) for e, d in zip(group, decisions, strict=True))
        shown = [e for e in entries if verdicts[e.id].permit]
        refused = [Withheld(verdicts[e.id].reason_code, verdicts[e.id].reason_text)
                   for e in entries if not verdicts[e.id].permit]
        return shown, refused

    async def decision(self, principal: Principal, entry: StudyEntry
                       ) -> ConsentDecision | None:
        """The decision on this study for this user (``None``: consent is not checked)."""
        if self.client is None:
            return None
        return (await self._decide(self.client, principal, entry.patient_id,
                                   [_target(entry)]))[0]

    async def check(self, principal: Principal, entry: StudyEntry) -> None:
        """``ConsentRefused`` unless this user may see this study."""
        decision = await self.decision(principal, entry)
        if decision is not None and not decision.permit:
            raise ConsentRefused(decision)

    async def emergency_reason(self, principal: Principal, entry: StudyEntry) -> str:
        """The written reason of the emergency grant this user sees this study through, as the
        decision carries it, or ``""`` when the patient's policy permits it anyway (an export
        is then audited as an emergency access, ETREAT with its reason)."""
        decision = await self.decision(principal, entry)
        return decision.emergency_reason if decision is not None else ""

    async def patient(self, principal: Principal, patient_id: str) -> ConsentDecision | None:
        """The decision for the patient as a whole (no study named): a denial an emergency
        grant would lift offers "Emergency access"; ``None`` when consent is not checked."""
        if self.client is None:
            return None
        return (await self._decide(self.client, principal, patient_id, [ConsentTarget()]))[0]

    async def active_grant(self, token: str, ins: str) -> EmergencyGrant | None:
        """This user's active emergency grant for the patient (asked with their token)."""
        answer = await self._call("GET", f"/patients/{quote(ins, safe='')}/emergency-access/"
                                  "active", token)
        if answer.status_code == 404:
            return None
        if answer.status_code != 200:
            raise ConsentUnavailable(f"consent service answered {answer.status_code}: "
                                     f"{answer.text[:300]}")
        return EmergencyGrant.from_json(answer.json())

    async def request_grant(self, token: str, ins: str, reason: str) -> EmergencyGrant:
        """Break the glass: ask the consent service, with the user's token, for an emergency
        grant; ``EmergencyRefused`` with the service's reason text when it says no. The
        portal's cached decisions are dropped so the grant is acted on at once."""
        answer = await self._call("POST", f"/patients/{quote(ins, safe='')}/emergency-access",
                                  token, json={"reason": reason})
        if answer.status_code in (400, 403, 422):
            try:
                detail = str(answer.json().get("detail") or "")
            except ValueError:
                detail = ""
            raise EmergencyRefused(detail or f"refused ({answer.status_code})")
        if answer.status_code not in (200, 201):
            raise ConsentUnavailable(f"consent service answered {answer.status_code}: "
                                     f"{answer.text[:300]}")
        if self.client is not None:
            self.client.forget()
        return EmergencyGrant.from_json(answer.json())

    async def _call(self, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        if not self.url:
            raise ConsentUnavailable("no consent service is configured "
                                     "(PARTAGE_PORTAL_CONSENT_URL)")
        try:
            return await self.http.request(method, f"{self.url}{path}",
                                           headers={"Authorization": f"Bearer {token}"},
                                           **kwargs)
        except httpx.HTTPError as exc:
            raise ConsentUnavailable(f"consent service unreachable: {exc}") from exc
