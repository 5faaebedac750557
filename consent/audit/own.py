"""The consent service's own audit events — a consent change, an emergency access started —
stored in its own repository in the transaction of the change (no network, nothing to lose),
through the same ``ingest`` as ``POST /audit`` so the search and the access log see them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from consent.audit.ingest import ingest
from consent.audit.models import AuditRecord
from ihe import atna
from ihe.atna import ActiveParticipant, AuditMessage, AuditSource

#: this service as the audit source
SOURCE = AuditSource("partage-consent")


def consent_changed(session: Session, *, when: datetime, user: ActiveParticipant,
                    patient: str, version: int, change: list[str]) -> AuditRecord:
    """Record one new version of the patient's policy and what it changed."""
    text = f"version {version}: " + ("; ".join(change) or "no change")
    return _store(session, atna.consent_change(when=when, user=user, source=SOURCE,
                                               patient_id=patient, change=text[:2000]))


def emergency_started(session: Session, *, when: datetime, user: ActiveParticipant,
                      patient: str, reason: str) -> AuditRecord:
    """Record an emergency grant: 110127, purpose ETREAT, the written reason."""
    return _store(session, atna.emergency_override(when=when, user=user, source=SOURCE,
                                                   patient_id=patient, reason=reason))


def _store(session: Session, message: AuditMessage) -> AuditRecord:
    return ingest(session, message.to_bytes(), transport="local", now=message.event.date_time)


def signed_in(session: Session, *, when: datetime, user: ActiveParticipant,
              success: bool) -> AuditRecord:
    """Record a patient's sign-in to the privacy centre (success or failure)."""
    outcome = (atna.EventOutcomeIndicator.SUCCESS if success
               else atna.EventOutcomeIndicator.MINOR_FAILURE)
    return _store(session, atna.user_authentication(when=when, user=user, source=SOURCE,
                                                    outcome=outcome))
