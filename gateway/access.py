"""The gateway's one access decision: may this caller see the pixels of this study?

Every serving route (RAD-69, WADO-RS, WADO-URI) calls ``Access.authorize`` after the token is
validated and before any byte of the study leaves the gateway (DESIGN.md, "Security model": the
gateway refuses pixels). The rules, first match wins:

* no consent service configured (``consent_url`` empty): the role rule, a professional may
  read, a patient or a token without a role may not;
* a ``site-admin`` whose ``site`` claim is this gateway's site reads its own site's images
  without a consent decision (its own data; audited like any access);
* a study this gateway has not published in the region (no regional patient) is refused:
  the region's consent cannot be asked about it;
* otherwise the consent service's policy decision point decides about (patient = the study's
  regional ID, user = the token's claims, study, KOS uniqueId, this site, purpose of use = the
  token's or TREAT). ``ConsentUnavailable`` propagates: the routes answer 503 /
  XDSRepositoryError, never the pixels.

Each decision is audited by ``Access.audit``: one DICOM Instances Accessed message per (user,
study, purpose, outcome) per ``audit_window_s``, however many requests (the viewer's hundreds
of frames) hit it. The window is kept in this process's memory, shared by its threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import select

from gateway.core.config import GatewaySettings
from gateway.models import PublishedStudy
from ihe import atna
from ihe.atna import AuditSource, EventID, EventOutcomeIndicator, ObjectRole
from ihe.atna.enum import Code
from partage.audit import AuditTrail, requestor
from partage.auth import Principal
from partage.consent import ConsentClient, ConsentUser
from partage.db import Database
from partage.sources import site_of

#: Roles that give access to images when no consent service is configured.
PROFESSIONAL_ROLES = frozenset({"radiologist", "physician", "site-admin", "region-admin"})
SITE_ADMIN = "site-admin"
#: decision code of a permit resting on an emergency grant (flagged in the audit)
EMERGENCY_ACCESS = "emergency-access"
NOT_PUBLISHED = "not-published"
#: how long a study's regional patient is remembered between look-ups (a frame burst asks once)
_STUDY_TTL_S = 5.0


@dataclass(frozen=True)
class Decision:
    permit: bool
    reason: str
    code: str = ""
    #: the study's regional patient ID (CX), when the gateway published it
    patient_id: str = ""
    #: an emergency permit's written reason (the grant's), for the audit
    emergency_reason: str = ""

    @property
    def emergency(self) -> bool:
        return self.code == EMERGENCY_ACCESS


@dataclass(frozen=True)
class _Published:
    patient_id: str
    document_unique_id: str


class Access:
    """The decision point of one gateway: ``consent`` is the region's decision point
    (``None``: the role rule), ``trail`` receives the access audits."""

    def __init__(self, settings: GatewaySettings, db: Database, consent: ConsentClient | None,
                 trail: AuditTrail, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.db = db
        self.consent = consent
        self.trail = trail
        self.clock = clock
        self.source = AuditSource(f"partage-gateway {settings.site_oid}", settings.site_oid)
        self._lock = threading.Lock()
        self._audited: dict[tuple[str, str, str, int], float] = {}
        self._studies: dict[str, tuple[float, _Published | None]] = {}

    def authorize(self, principal: Principal, study_instance_uid: str) -> Decision:
        """Decide whether ``principal`` may retrieve study ``study_instance_uid`` for the
        purpose its token gives (TREAT when it names none)."""
        published = self._published(study_instance_uid)
        patient = published.patient_id if published else ""
        if self.consent is None:
            roles = principal.roles & PROFESSIONAL_ROLES
            if not roles:
                held = ", ".join(sorted(principal.roles)) or "none"
                return Decision(False, f"{principal.subject} holds no professional role "
                                       f"(roles: {held})", "not-a-professional", patient)
            return Decision(True, f"{principal.subject} as {', '.join(sorted(roles))}",
                            "role", patient)
        if SITE_ADMIN in principal.roles and site_of(principal) == self.settings.site_oid:
            return Decision(True, "the site's own administrator", "own-site", patient)
        if published is None:
            return Decision(False, "the study is not published in the region", NOT_PUBLISHED)
        decision = self.consent.decide(
            published.patient_id, ConsentUser.from_principal(principal),
            study_instance_uid=study_instance_uid,
            document_unique_id=published.document_unique_id, site_oid=self.settings.site_oid,
            purpose_of_use=principal.purpose)
        return Decision(decision.permit, decision.reason_text, decision.reason_code,
                        published.patient_id, decision.emergency_reason)

    def audit(self, principal: Principal, study_instance_uid: str, decision: Decision,
              transaction: Code, address: str = "") -> bool:
        """Record the access (refusals with outcome 4) unless the same (user, study, purpose,
        outcome) was recorded less than ``audit_window_s`` ago; whether it was recorded. An
        access through an emergency grant is an emergency treatment (ETREAT) whatever the token
        says, so it is recorded as such even just after an ordinary one."""
        outcome = (EventOutcomeIndicator.SUCCESS if decision.permit
                   else EventOutcomeIndicator.MINOR_FAILURE)
        purpose = "ETREAT" if decision.emergency else principal.purpose
        key = (principal.subject, study_instance_uid, purpose, int(outcome))
        now = self.clock()
        window = self.settings.audit_window_s
        with self._lock:
            last = self._audited.get(key)
            if last is not None and now - last < window:
                return False
            self._audited[key] = now
            if len(self._audited) > 10_000:  # forget expired windows
                self._audited = {k: t for k, t in self._audited.items() if now - t < window}
        message = atna.access(
            event=EventID.INSTANCES_ACCESSED, transaction=transaction, when=datetime.now(UTC),
            user=requestor(principal, address), source=self.source,
            patient_id=decision.patient_id or "-", study_uids=(study_instance_uid,),
            purpose_of_use=purpose, outcome=outcome,
            emergency_reason=decision.emergency_reason or decision.reason
            if purpose == "ETREAT" else "")
        if not decision.patient_id:  # a study the region does not know: no patient to name
            message = replace(message, objects=tuple(o for o in message.objects
                                                     if o.role != ObjectRole.PATIENT))
        self.trail.record(message)
        return True

    def _published(self, study_instance_uid: str) -> _Published | None:
        """The study's regional patient and KOS uniqueId while it is registered (Approved) in
        the region; ``None`` otherwise. Remembered ``_STUDY_TTL_S``."""
        now = self.clock()
        with self._lock:
            hit = self._studies.get(study_instance_uid)
        if hit is not None and now - hit[0] < _STUDY_TTL_S:
            return hit[1]
        P = PublishedStudy
        with self.db.session() as session:
            row = session.execute(
                select(P.regional_patient_id, P.document_unique_id, P.approved_entry_uuid)
                .where(P.study_instance_uid == study_instance_uid)).first()
        found = (_Published(row[0], row[1] or "")
                 if row is not None and row[0] and row[2] else None)
        with self._lock:
            if len(self._studies) > 10_000:
                self._studies.clear()
            self._studies[study_instance_uid] = (now, found)
        return found
