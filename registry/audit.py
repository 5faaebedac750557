"""The registry's ATNA audit messages (ITI-20): one Query per ITI-18 request and one Import
per ITI-42 submission, recorded on the service's ``partage.audit.AuditTrail`` (the registry is
the one service that audits these, so nothing is counted twice)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime

from lxml import etree

from ihe import atna
from ihe.atna import AuditSource, EventID, EventOutcomeIndicator, ObjectRole
from ihe.atna.enum import Code
from ihe.ebrim import Slot, SubmitObjectsRequest
from ihe.errors import RemoteProtocolError
from partage.audit import AuditTrail, requestor, submission
from partage.auth import Principal
from registry.queries.params import split_values

SOURCE = AuditSource("partage-registry")
ITI_42: Code = ("ITI-42", "IHE Transactions", "Register Document Set-b")
#: stored-query parameters naming the patient asked about
PATIENT_PARAMETERS = ("$XDSDocumentEntryPatientId", "$XDSSubmissionSetPatientId",
                      "$XDSFolderPatientId", "$patientId")
_PLACEHOLDER = "-"


def query_patient(parameters: list[Slot], answered: Iterable[str | None]) -> str:
    """The patient of a query: its patient parameter (the first value), else the one patient
    of its answer, else ``""``."""
    for slot in parameters:
        if slot.name in PATIENT_PARAMETERS:
            try:
                values = split_values(",".join(slot.values), slot.name)
            except RemoteProtocolError:
                continue
            if values and values[0]:
                return values[0]
    patients = set(filter(None, answered))
    return patients.pop() if len(patients) == 1 else ""


def record_query(trail: AuditTrail, principal: Principal, request: etree._Element,
                 patient_id: str, outcome: EventOutcomeIndicator) -> None:
    """110112 Query, ITI-18, the AdhocQueryRequest itself as the query object."""
    message = atna.query(when=datetime.now(UTC), user=requestor(principal), source=SOURCE,
                         patient_id=patient_id or _PLACEHOLDER,
                         query_bytes=etree.tostring(request),
                         purpose_of_use=principal.purpose, outcome=outcome)
    if not patient_id:  # ITI TF-2a §3.18.5.1.2: the patient only when known
        message = replace(message, objects=tuple(o for o in message.objects
                                                  if o.role != ObjectRole.PATIENT))
    trail.record(message)


def record_import(trail: AuditTrail, principal: Principal, request: SubmitObjectsRequest,
                  outcome: EventOutcomeIndicator) -> None:
    """110107 Import, ITI-42 (nothing when the submission names no patient)."""
    message = submission(event=EventID.IMPORT, transaction=ITI_42, when=datetime.now(UTC),
                         principal=principal, source=SOURCE, request=request, outcome=outcome)
    if message is not None:
        trail.record(message)
