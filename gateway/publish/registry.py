"""What the gateway asks the registry directly: which DocumentEntry carries a uniqueId
(ITI-18 GetDocuments, ITI TF-2a §3.18.4.1.2.3.7.5) and the deprecation of a study's
DocumentEntry (ITI-57 UpdateAvailabilityStatus, ITI TF-2b §3.57.4.1.3.3.1.3)."""

from __future__ import annotations

from dataclasses import dataclass

from ihe.ebrim import (
    AdhocQueryRequest,
    Association,
    AssociationType,
    ExtrinsicObject,
    ObjectType,
    RegistryError,
    RegistryResponse,
    ResponseStatus,
    Severity,
    Slot,
    Status,
    SubmitObjectsRequest,
)
from ihe.ebrim.builders import Author, Code, SubmissionSetMetadata, submission_set
from partage import soapclient

GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"


class RegistryRefused(Exception):
    """The registry or repository answered with errors; ``code``/``context`` are the first
    error's (ITI TF-3 §4.2.4.1), kept as the study's last error."""

    def __init__(self, code: str, context: str) -> None:
        super().__init__(f"{code}: {context}")
        self.code = code
        self.context = context

    @classmethod
    def check(cls, response: RegistryResponse) -> None:
        """Raise unless ``response`` is a Success (warnings alone are a success)."""
        errors = [e for e in response.errors if e.severity == Severity.ERROR]
        if response.status == ResponseStatus.SUCCESS and not errors:
            return
        first = errors[0] if errors else RegistryError("XDSRegistryError", response.status)
        raise cls(first.code, first.context)


@dataclass(frozen=True)
class RegisteredEntry:
    entry_uuid: str
    status: str


def registered_entry(registry_url: str, unique_id: str, token: str | None = None
                     ) -> RegisteredEntry | None:
    """The DocumentEntry with this uniqueId (the Approved one if several), or ``None``;
    asked with the gateway's bearer ``token``."""
    request = AdhocQueryRequest(
        GET_DOCUMENTS, [Slot("$XDSDocumentEntryUniqueId", [f"('{unique_id}')"])]
    )
    answer = soapclient.stored_query(registry_url, request, token=token)
    if answer.status != ResponseStatus.SUCCESS:
        first = answer.errors[0] if answer.errors else RegistryError("XDSRegistryError")
        raise RegistryRefused(first.code, first.context)
    entries = [o for o in answer.objects if isinstance(o, ExtrinsicObject)]
    entries.sort(key=lambda e: e.status != Status.APPROVED)
    return RegisteredEntry(entries[0].id, entries[0].status or "") if entries else None


def deprecation(
    *, entry_uuid: str, patient_id: str, source_id: str, submission_set_unique_id: str,
    submission_time: str, author_institution: str, content_type_code: Code,
) -> SubmitObjectsRequest:
    """An ITI-57 SubmissionSet deprecating the Approved DocumentEntry ``entry_uuid``
    (symbolic ids: the registry assigns the new objects' entryUUIDs)."""
    ss = submission_set(
        SubmissionSetMetadata(
            entry_uuid="SubmissionSet01", unique_id=submission_set_unique_id,
            source_id=source_id, patient_id=patient_id, submission_time=submission_time,
            content_type_code=content_type_code,
            authors=[Author(institutions=(author_institution,))],
        )
    )
    update = Association(
        id="Deprecation01", object_type=ObjectType.ASSOCIATION,
        association_type=AssociationType.UPDATE_AVAILABILITY_STATUS,
        source_object="SubmissionSet01", target_object=entry_uuid,
        slots=[Slot("OriginalStatus", [Status.APPROVED]), Slot("NewStatus", [Status.DEPRECATED])],
    )
    return SubmitObjectsRequest([ss, update])
