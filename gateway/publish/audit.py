"""The publish audit (ITI-20): one 110106 Export message (RAD-68) per study this gateway
published, replaced or withdrew, with its patient, study and KOS uniqueId, requested by the
gateway itself (its client, the site as organisation)."""

from __future__ import annotations

from datetime import datetime

from gateway.core.config import GatewaySettings
from gateway.models import PublishedStudy
from ihe import atna
from ihe.atna import ActiveParticipant, AuditSource, EventID, EventOutcomeIndicator
from ihe.atna.enum import APPLICATION, RAD_68
from partage.audit import AuditTrail


def record_publish(trail: AuditTrail | None, settings: GatewaySettings, record: PublishedStudy,
                   when: datetime, outcome: EventOutcomeIndicator) -> None:
    """Audit one RAD-68 submission (or ITI-57 withdrawal) of ``record``'s study."""
    if trail is None or not record.regional_patient_id:
        return
    gateway = ActiveParticipant(settings.client_id or settings.ae_title, True, settings.site_name,
                                roles=(APPLICATION,), organisation=settings.site_name)
    trail.record(atna.access(
        event=EventID.EXPORT, transaction=RAD_68, when=when, user=gateway,
        source=AuditSource(f"partage-gateway {settings.site_oid}", settings.site_oid),
        patient_id=record.regional_patient_id, study_uids=(record.study_instance_uid,),
        document_ids=tuple(filter(None, (record.document_unique_id,))), outcome=outcome))
