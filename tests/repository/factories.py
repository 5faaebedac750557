"""Submissions and test peers for the repository tests."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field

from fastapi import FastAPI

from ihe.ebrim import (
    Document,
    ProvideAndRegisterDocumentSetRequest,
    RegistryError,
    RegistryResponse,
    SubmitObjectsRequest,
)
from ihe.ebrim.builders import (
    Author,
    Code,
    DocumentEntryMetadata,
    SubmissionSetMetadata,
    submission,
)
from ihe.soap import Action
from partage.soap import SoapReply, SoapRequest, soap_endpoint

PATIENT = "2801205123456^^^&1.2.250.1.213.1.4.10&ISO"
#: the submitting site: the sourceId, the authors' institution OID (XON.10) and the ``site``
#: claim of the gateway token that may submit them (``partage.sources``)
SITE = "1.2.250.1.999.3"
INSTITUTION = f"CHU Nord^^^^^^^^^{SITE}"


def oid() -> str:
    return f"2.25.{uuid.uuid4().int}"


def entry(entry_uuid: str, unique_id: str, mime_type: str = "text/plain") -> DocumentEntryMetadata:
    return DocumentEntryMetadata(
        entry_uuid=entry_uuid,
        unique_id=unique_id,
        patient_id=PATIENT,
        source_patient_id="P123^^^&1.2.250.1.999.10&ISO",
        class_code=Code("REPORTS", "1.3.6.1.4.1.19376.1.2.6.1", "Reports"),
        type_code=Code("18748-4", "2.16.840.1.113883.6.1", "Diagnostic imaging study"),
        format_code=Code("urn:ihe:rad:TEXT", "1.3.6.1.4.1.19376.1.2.3", "Radiology report text"),
        confidentiality_codes=[Code("N", "2.16.840.1.113883.5.25", "Normal")],
        healthcare_facility_type_code=Code("SA01", "1.2.250.1.71.4.2.4", "Centre hospitalier"),
        practice_setting_code=Code("394914008", "2.16.840.1.113883.6.96", "Radiology"),
        creation_time="20261127100000",
        mime_type=mime_type,
        title="Compte rendu",
        authors=[Author(person="^LEROY^Marc^^^Dr", institutions=(INSTITUTION,))],
    )


def pnr(*documents: bytes, mime_type: str = "text/plain") -> ProvideAndRegisterDocumentSetRequest:
    """A valid ITI-41 request with one DocumentEntry (fresh uniqueId) per document."""
    entries = [entry(f"Document{i:02d}", oid(), mime_type) for i in range(1, len(documents) + 1)]
    ss = SubmissionSetMetadata(
        entry_uuid="SubmissionSet01", unique_id=oid(), source_id=SITE,
        patient_id=PATIENT, submission_time="20261127100000",
        content_type_code=Code("18748-4", "2.16.840.1.113883.6.1", "Diagnostic imaging study"),
        authors=[Author(institutions=(INSTITUTION,))],
    )
    return ProvideAndRegisterDocumentSetRequest(
        submission(ss, entries),
        [Document(e.entry_uuid, data) for e, data in zip(entries, documents)],
    )


@dataclass
class PeerRegistry:
    """A real HTTP registry peer for ITI-42 that records what it received and answers with the
    errors it is told to (for the relay and clean-up paths)."""

    errors: list[RegistryError] = field(default_factory=list)
    received: list[SubmitObjectsRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> FastAPI:
        def register(request: SoapRequest) -> SoapReply:
            with self.lock:
                self.received.append(SubmitObjectsRequest.from_element(request.envelope.body))
                return SoapReply(RegistryResponse.from_errors(self.errors).to_element())

        app = FastAPI()
        app.add_api_route(
            "/registry", soap_endpoint({Action.REGISTER: register}, lambda: 1 << 24),
            methods=["POST"],
        )
        return app
