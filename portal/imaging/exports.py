"""The one place where a study leaving the region's viewer is recorded: a download or a send to
a PACS. Issue 5 (audit) turns this into an ATNA "DICOM Instances Transferred" / "Export" event;
until then it is logged with who, what and where."""

from __future__ import annotations

import logging

from partage.auth import Principal

log = logging.getLogger("portal.exports")


def record_export(principal: Principal, *, action: str, document_id: str,
                  study_instance_uid: str, patient_id: str, destination: str,
                  instances: int) -> None:
    """``action`` is ``download`` or ``send``; ``destination`` the file name or the PACS."""
    log.info("study exported", extra={
        "action": action, "subject": principal.subject, "rpps": principal.rpps,
        "organisation": principal.organisation, "purpose_of_use": principal.purpose_of_use,
        "document": document_id, "study": study_instance_uid, "patient": patient_id,
        "destination": destination, "instances": instances,
    })
