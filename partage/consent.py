"""The consent service's client: the registry, the gateways and the portal ask the region's
policy decision point (``POST /decisions``, ``/decisions/batch``) through it.

Answers are cached for ``ttl_s`` (≤ 5 s, the region's promise: a policy change takes effect
everywhere within 5 s), or less when the answer says so (``max_age_s``: 0 for a denial an
emergency grant could lift, so a new grant is acted on at once; a grant's remaining time for a
permit resting on one), keyed on everything a decision depends on, so a repeated question is a
dictionary look-up (well under 1 ms) and a batch asks the service only about what it has not
seen lately. A cached answer's age is counted from when its question was sent, so it never
outlives a policy change by more than ``ttl_s``.

    client = ConsentClient("http://127.0.0.1:8060", ClientCredentials(...).token)
    decision = client.decide(patient, user, study_instance_uid=uid, site_oid=site)
    if not decision.permit: refuse(decision.reason_text)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from partage.auth import Principal
from partage.tokens import TokenUnavailable

#: the longest a decision may be acted on after it was asked (the region's 5 s promise)
MAX_TTL_S = 5.0
#: targets per batch call (the service accepts up to 5000)
BATCH_SIZE = 1000
#: the token claim giving a professional's organisation as an OID (the dev IdP, Keycloak mapper)
ORGANISATION_OID_CLAIM = "organisation_oid"


class ConsentUnavailable(Exception):
    """The decision point could not answer (unreachable, refused the caller, bad answer):
    callers deny, never permit, when they get this."""


@dataclass(frozen=True)
class ConsentUser:
    """The person access is asked for, from their token's claims."""

    sub: str
    rpps: str = ""
    roles: tuple[str, ...] = ()
    organisation_oid: str = ""

    @classmethod
    def from_principal(cls, principal: Principal) -> ConsentUser:
        """The caller of a validated token; the organisation is its OID claim
        (``organisation_oid``), as sites and policies name organisations by OID."""
        oid = principal.claims.get(ORGANISATION_OID_CLAIM)
        return cls(principal.subject, principal.rpps, tuple(sorted(principal.roles)),
                   oid if isinstance(oid, str) else "")

    def body(self) -> dict[str, Any]:
        return {"sub": self.sub, "rpps": self.rpps, "roles": sorted(self.roles),
                "organisation_oid": self.organisation_oid}


@dataclass(frozen=True)
class ConsentTarget:
    study_instance_uid: str = ""
    document_unique_id: str = ""
    site_oid: str = ""

    def body(self) -> dict[str, str]:
        return {"study_instance_uid": self.study_instance_uid,
                "document_unique_id": self.document_unique_id, "site_oid": self.site_oid}


@dataclass(frozen=True)
class ConsentDecision:
    permit: bool
    reason_code: str
    reason_text: str
    policy_version: int
    #: how long the answer may be acted on (the client caches min(ttl_s, max_age_s))
    max_age_s: float = MAX_TTL_S
    #: an emergency grant permits (or would permit) this target: the portal offers
    #: "Emergency access" on a denial that says so
    emergency_possible: bool = False
    #: an emergency permit's written reason (the grant's, or the ETREAT request's): what an
    #: enforcement point's audit of the access carries
    emergency_reason: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConsentDecision:
        return cls(bool(data["permit"]), str(data["reason"]["code"]),
                   str(data["reason"]["text"]), int(data["policy_version"]),
                   float(data.get("max_age_s", MAX_TTL_S)),
                   bool(data.get("emergency_possible", False)),
                   str(data.get("emergency_reason", "")))


_Key = tuple[str, ConsentUser, ConsentTarget, str, str]


class ConsentClient:
    """Decisions of the consent service at ``url``, asked with bearer tokens from
    ``token_source`` (e.g. ``ClientCredentials.token``) and cached ``ttl_s``. Thread-safe."""

    def __init__(self, url: str, token_source: Callable[[], str], *, ttl_s: float = MAX_TTL_S,
                 timeout: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 <= ttl_s <= MAX_TTL_S:
            raise ValueError(f"ttl_s must be within 0..{MAX_TTL_S} s, not {ttl_s}")
        self.url = url.rstrip("/")
        self.token_source = token_source
        self.ttl_s = ttl_s
        self.clock = clock
        self._http = httpx.Client(timeout=timeout)
        #: key → (monotonic time it expires, decision)
        self._cache: dict[_Key, tuple[float, ConsentDecision]] = {}
        self._lock = threading.Lock()

    def decide(self, patient: str, user: ConsentUser, *, study_instance_uid: str = "",
               document_unique_id: str = "", site_oid: str = "", purpose_of_use: str = "TREAT",
               emergency_reason: str = "") -> ConsentDecision:
        """May ``user`` see this study / document of ``patient`` (a regional INS or its CX)?"""
        target = ConsentTarget(study_instance_uid, document_unique_id, site_oid)
        return self.decide_many(patient, user, [target], purpose_of_use=purpose_of_use,
                                emergency_reason=emergency_reason)[0]

    def decide_many(self, patient: str, user: ConsentUser, targets: Iterable[ConsentTarget], *,
                    purpose_of_use: str = "TREAT", emergency_reason: str = ""
                    ) -> list[ConsentDecision]:
        """One decision per target, in order; only the ones not cached are asked, in one call."""
        targets = list(targets)
        keys = [(patient, user, t, purpose_of_use, emergency_reason) for t in targets]
        now = self.clock()
        found: dict[_Key, ConsentDecision] = {}
        with self._lock:
            for key in keys:
                hit = self._cache.get(key)
                if hit is not None and now < hit[0]:
                    found[key] = hit[1]
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        if missing:
            asked = [d for i in range(0, len(missing), BATCH_SIZE)
                     for d in self._ask(patient, user, [k[2] for k in missing[i:i + BATCH_SIZE]],
                                        purpose_of_use, emergency_reason)]
            found.update(zip(missing, asked, strict=True))
            with self._lock:
                self._evict(now)
                self._cache.update((k, (now + min(self.ttl_s, d.max_age_s), d))
                                   for k, d in zip(missing, asked, strict=True)
                                   if min(self.ttl_s, d.max_age_s) > 0)
        return [found[k] for k in keys]

    def forget(self) -> None:
        """Drop every cached decision (e.g. when the caller learns a policy changed)."""
        with self._lock:
            self._cache.clear()

    def close(self) -> None:
        self._http.close()

    def _evict(self, now: float) -> None:
        stale = [k for k, (until, _) in self._cache.items() if now >= until]
        for key in stale:
            del self._cache[key]

    def _ask(self, patient: str, user: ConsentUser, targets: Sequence[ConsentTarget],
             purpose_of_use: str, emergency_reason: str) -> list[ConsentDecision]:
        body = {"patient": patient, "user": user.body(), "purpose_of_use": purpose_of_use,
                "emergency_reason": emergency_reason, "targets": [t.body() for t in targets]}
        try:
            answer = self._http.post(f"{self.url}/decisions/batch", json=body,
                                     headers={"Authorization": f"Bearer {self.token_source()}"})
        except (httpx.HTTPError, TokenUnavailable) as exc:
            raise ConsentUnavailable(f"consent service unreachable: {exc}") from exc
        if answer.status_code != 200:
            detail = answer.text[:300]
            raise ConsentUnavailable(f"consent service answered {answer.status_code}: {detail}")
        try:
            decisions = [ConsentDecision.from_json(d) for d in answer.json()["decisions"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise ConsentUnavailable(f"unreadable consent answer: {exc}") from exc
        if len(decisions) != len(targets):
            raise ConsentUnavailable("the consent service answered for other targets")
        return decisions
