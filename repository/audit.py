"""The repository's ATNA audit messages (ITI-20): one Import per ITI-41 submission and one
Export per ITI-43 retrieve, recorded on the service's ``partage.audit.AuditTrail`` (the
repository is the one service that audits these, so nothing is counted twice)."""

from __future__ import annotations

from datetime import UTC, datetime

from ihe.atna import (
    AuditMessage,
    AuditSource,
    EventActionCode,
    EventID,
    EventIdentification,
    EventOutcomeIndicator,
)
from ihe.atna.enum import ITI_41, ITI_43, purpose
from ihe.atna.messages import document
from ihe.ebrim import SubmitObjectsRequest
from partage.audit import AuditTrail, requestor, submission
from partage.auth import Principal

SOURCE = AuditSource("partage-repository")


def record_import(trail: AuditTrail, principal: Principal, request: SubmitObjectsRequest,
                  outcome: EventOutcomeIndicator) -> None:
    """110107 Import, ITI-41 (nothing when the submission names no patient)."""
    message = submission(event=EventID.IMPORT, transaction=ITI_41, when=datetime.now(UTC),
                         principal=principal, source=SOURCE, request=request, outcome=outcome)
    if message is not None:
        trail.record(message)


def record_retrieve(trail: AuditTrail, principal: Principal, document_ids: list[str],
                    outcome: EventOutcomeIndicator) -> None:
    """110106 Export, ITI-43, naming the documents asked for. The repository does not know
    their patient (ITI TF-2b §3.43.5.1.2: the patient only when known); the registry's query
    before it and the gateway's access after it name them."""
    if not document_ids:
        return
    event = EventIdentification(EventID.EXPORT.code, EventActionCode.READ, datetime.now(UTC),
                                outcome, (ITI_43,),
                                (purpose(principal.purpose),))
    trail.record(AuditMessage(event, (requestor(principal),), SOURCE,
                              tuple(document(d) for d in dict.fromkeys(document_ids))))
