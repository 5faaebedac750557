"""The one place where a study leaving the region's viewer is recorded: a download (a zip to the
user's computer) or a send to the reading site's PACS. Each is an ATNA 110106 Export of the
study's instances (RAD-107, the WADO-RS retrieve it is made of), the user as requestor, and for a
send the PACS as the destination participant, flagged as an emergency access when the user sees
the study through an emergency grant; it also goes to the log."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from ihe import atna
from ihe.atna import ActiveParticipant, EventID
from ihe.atna.enum import DESTINATION_ROLE, RAD_107
from partage.audit import AuditTrail, requestor
from partage.auth import Principal
from portal.audit import SOURCE

log = logging.getLogger("portal.exports")


def record_export(trail: AuditTrail, principal: Principal, *, action: str, document_id: str,
                  document_unique_id: str, study_instance_uid: str, patient_id: str,
                  destination: str, instances: int, address: str = "",
                  emergency_reason: str = "") -> None:
    """``action`` is ``download`` or ``send``; ``destination`` the file name or the PACS
    (``AE@host:port``); ``address`` the user's IP address; ``emergency_reason`` the written
    reason of the emergency grant the user sees the study through (flagged: 110127, ETREAT)."""
    extra = ((ActiveParticipant(destination, False, roles=(DESTINATION_ROLE,)),)
             if action == "send" else ())
    trail.record(atna.access(
        event=EventID.EXPORT, transaction=RAD_107, when=datetime.now(UTC),
        user=requestor(principal, address), source=SOURCE, patient_id=patient_id,
        study_uids=(study_instance_uid,), document_ids=(document_unique_id,),
        purpose_of_use=principal.purpose, emergency_reason=emergency_reason,
        extra_participants=extra))
    log.info("study exported", extra={
        "action": action, "subject": principal.subject, "rpps": principal.rpps,
        "organisation": principal.organisation, "purpose_of_use": principal.purpose_of_use,
        "document": document_id, "study": study_instance_uid, "patient": patient_id,
        "destination": destination, "instances": instances, "emergency": bool(emergency_reason),
    })
