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
from ihe.ebrim import ExtrinsicObject, RegistryPackage, Slot, SubmitObjectsRequest
from ihe.ebrim.enum import REFERENCE_ID_SLOT, REFERENCE_ID_STUDY_INSTANCE_UID, Scheme
from partage.audit import AuditTrail, requestor
from ihe.errors import RemoteProtocolError
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
                         purpose_of_use=principal.purpose_of_use or "TREAT", outcome=outcome)
    if not patient_id:  # ITI TF-2a §3.18.5.1.2: the patient only when known
        message = replace(message, objects=tuple(o for o in message.objects
                                                  if o.role != ObjectRole.PATIENT))
    trail.record(message)


def record_import(trail: AuditTrail, principal: Principal, submission: SubmitObjectsRequest,
                  outcome: EventOutcomeIndicator) -> None:
    """110107 Import, ITI-42: the patient, the studies the entries reference and the entries'
    uniqueIds (the SubmissionSet's when it has no entry)."""
    entries = [o for o in submission.objects if isinstance(o, ExtrinsicObject)]
    sets = [o for o in submission.objects
            if isinstance(o, RegistryPackage) and o.is_submission_set]
    patient = next((e.patient_id for e in entries if e.patient_id), None) or next(
        (p for s in sets if (p := s.external_id(Scheme.SS_PATIENT_ID))), "")
    suffix = f"^^^^{REFERENCE_ID_STUDY_INSTANCE_UID}"
    studies = tuple(dict.fromkeys(
        ref[: -len(suffix)] for e in entries for ref in e.slot_values(REFERENCE_ID_SLOT)
        if ref.endswith(suffix)))
    documents = tuple(filter(None, (e.unique_id for e in entries))) or tuple(
        filter(None, (s.external_id(Scheme.SS_UNIQUE_ID) for s in sets)))
    if not patient or not (studies or documents):
        return  # refused before anything could be named: the registry's log says why
    trail.record(atna.access(event=EventID.IMPORT, transaction=ITI_42, when=datetime.now(UTC),
                             user=requestor(principal), source=SOURCE, patient_id=patient,
                             study_uids=studies, document_ids=documents,
                             purpose_of_use=principal.purpose_of_use or "TREAT",
                             outcome=outcome))
